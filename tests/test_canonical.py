"""The canonical model is lossless, errors look like OpenAI's, and secrets never print."""

from __future__ import annotations

import json
import logging
from typing import Any, get_args

import attrs
import cattrs
import orjson
import pytest
from cattrs.strategies import configure_tagged_union

from relayport.model import (
    AudioBlock,
    Block,
    ChatRequest,
    ChatResponse,
    Choice,
    FileBlock,
    Finish,
    GatewayError,
    ImageBlock,
    MediaInputs,
    MediaKind,
    MediaOutput,
    MediaRequest,
    Message,
    RawBlock,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RedactedThinkingBlock,
    StreamEvent,
    StreamStart,
    TaskRecord,
    TaskStatus,
    TextBlock,
    TextDelta,
    Thinking,
    ThinkingBlock,
    Tool,
    ToolCallBlock,
    ToolCallDelta,
    ToolChoice,
    ToolResultBlock,
    Usage,
    UsageUpdate,
    VideoBlock,
    bad_request,
)
from relayport.model.errors import error_type_for
from relayport.provider import Deployment, ProviderSpec
from relayport.secrets import Secret, resolve_secret
from relayport.tasks import codec
from relayport.tasks.codec import dump_task, load_task
from relayport.testing.openapi import validate_error

# ----------------------------------------------------------------------------- fixtures


def rich_usage() -> Usage:
    return Usage(
        input_tokens=1500, output_tokens=420, cached_tokens=1000, cache_write_tokens=300,
        cache_write_5m_tokens=200, cache_write_1h_tokens=100, reasoning_tokens=256,
        input_audio_tokens=11, input_image_tokens=85, input_video_tokens=1200, output_audio_tokens=7,
        extra={"prompt_cache_hit_tokens": 1000, "server_tool_use": {"web_search_requests": 2}},
    )


def rich_request() -> ChatRequest:
    x = {"cache_control": {"type": "ephemeral"}}
    return ChatRequest(
        model="claude-sonnet-4",
        messages=[
            Message("system", [TextBlock("Be exact.", extra=x)], name="ops", extra={"x_sys": 1}),
            Message(
                "user",
                [
                    TextBlock("Look at all of these:"),
                    ImageBlock(url="https://x.test/a.png", detail="high"),
                    ImageBlock(url="data:image/png;base64,iVBO", data="iVBO", media_type="image/png", extra=x),
                    AudioBlock(data="UklGRg==", format="wav"),
                    AudioBlock(url="https://x.test/a.mp3"),
                    VideoBlock(url="https://x.test/v.mp4", fps=1.5),
                    VideoBlock(frames=["https://x.test/1.jpg", "https://x.test/2.jpg"]),
                    FileBlock(data="JVBERi0x", media_type="application/pdf", filename="a.pdf"),
                    FileBlock(file_id="file-abc", extra={"purpose": "user_data"}),
                    FileBlock(url="https://x.test/d.pdf"),
                    RawBlock({"type": "input_hologram", "layers": [1, {"deep": None}]}, extra={"seen": True}),
                ],
                name="alice",
            ),
            Message(
                "assistant",
                [
                    ThinkingBlock("I should call the tool.", signature="EqQBCkYIBxgCKkC"),
                    RedactedThinkingBlock("EmwKAhgBEgy3va3pzix"),
                    ThinkingBlock("unsigned thought"),
                    TextBlock("Checking."),
                    ToolCallBlock("call_1", "weather", '{"city":"Paris"}', extra={"x_idx": 0}),
                    ToolCallBlock("call_2", "time"),
                ],
            ),
            Message(
                "tool",
                [
                    ToolResultBlock(
                        "call_1",
                        [TextBlock("18C"), ImageBlock(url="https://x.test/map.png"),
                         ToolResultBlock("nested", [TextBlock("inner")])],
                        is_error=False,
                        extra={"x": 1},
                    )
                ],
            ),
            Message("tool", [ToolResultBlock("call_2", [TextBlock("timeout")], is_error=True)]),
            Message("developer", [TextBlock("")]),
        ],
        stream=True,
        include_usage=True,
        max_tokens=4096,
        temperature=0.7,
        top_p=0.9,
        stop=["\n\nHuman:", "END"],
        n=1,
        seed=7,
        tools=[
            Tool("weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}},
                 strict=True),
            Tool("web_search", type="web_search_20250305", extra={"max_uses": 3}),
        ],
        tool_choice=ToolChoice("function", "weather"),
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
        thinking=Thinking(enabled=True, budget_tokens=2048, effort="high", kind="enabled"),
        enable_search=True,
        user="user-1",
        media=MediaInputs(
            images=["https://x.test/1.png"], videos=["https://x.test/v.mp4"], file_urls=["https://x.test/f.pdf"],
            voices=["https://x.test/voice.wav"], roles={"images": ["first_frame"]},
        ),
        extra={"steam": False, "metadata": {"k": "v"}, "logit_bias": {"50256": -100}, "none": None},
    )


def rich_response() -> ChatResponse:
    return ChatResponse(
        id="chatcmpl-1",
        model="gpt-4o-2024-08-06",
        choices=[
            Choice(
                Message(
                    "assistant",
                    [ThinkingBlock("hmm", "sig"), TextBlock("Hi"), ToolCallBlock("c1", "f", "{}")],
                    extra={"annotations": [], "refusal": None},
                ),
                finish_reason="tool_calls",
                index=0,
                extra={"logprobs": {"content": []}},
            ),
            Choice(Message("assistant", [TextBlock("Hello")]), "stop", 1),
        ],
        created=1_741_570_283,
        usage=rich_usage(),
        extra={"system_fingerprint": "fp_1", "service_tier": "default"},
    )


def rich_task(status: TaskStatus = TaskStatus.FAILED) -> TaskRecord:
    return TaskRecord(
        id="task_8f3a",
        provider="dashscope",
        model="wan2.2-t2v",
        vendor_task_id="vendor-123",
        status=status,
        request=MediaRequest(
            kind=MediaKind.VIDEO,
            model="wan2.2-t2v",
            prompt="a cat surfing",
            negative_prompt="blurry",
            n=1,
            size="1280*720",
            duration=5.0,
            resolution="720P",
            aspect_ratio="16:9",
            voice="alloy",
            response_format="url",
            seed=11,
            media=MediaInputs(images=["https://x.test/first.png"], roles={"images": ["first_frame"]}),
            extra={"watermark": False, "nested": {"a": [1, 2, None]}},
        ),
        created_at=1_700_000_000.5,
        updated_at=1_700_000_060.25,
        deadline=1_700_003_600.0,
        deployment="wan-video",
        progress=0.75,
        outputs=[
            MediaOutput(url="https://cdn.x.test/v.mp4", media_type="video/mp4", extra={"expires": 3600}),
            MediaOutput(b64="AAAA", media_type="image/png"),
        ],
        error=GatewayError(
            502, "dashscope: content moderation failed", code="DataInspectionFailed", param="prompt",
            retryable=False, retry_after=2.5, extra={"request_id": "r-1"},
        ),
    )


def all_blocks(messages: list[Message]) -> list[Any]:
    out: list[Any] = []

    def walk(blocks: list[Any]) -> None:
        for b in blocks:
            out.append(b)
            if isinstance(b, ToolResultBlock):
                walk(b.content)

    for m in messages:
        walk(m.content)
    return out


def error_fields(e: GatewayError | None) -> Any:
    if e is None:
        return None
    return (e.status, e.message, e.type, e.code, e.param, e.retryable, e.retry_after, e.extra)


# ----------------------------------------------------------------------------- converters


@pytest.fixture(scope="module")
def converter() -> cattrs.Converter:
    """A private converter for the chat model: blocks and events carry a type tag."""
    attrs.resolve_types(ToolResultBlock)  # `content: list[Block]` refers to the union itself
    conv = cattrs.Converter()
    configure_tagged_union(Block, conv, tag_name="block")
    configure_tagged_union(StreamEvent, conv, tag_name="event")
    return conv


def through_json(conv: cattrs.Converter, obj: Any, cls: Any) -> Any:
    """Unstructure, serialise, parse, structure: what persisting or sending it would do."""
    return conv.structure(orjson.loads(orjson.dumps(conv.unstructure(obj, cls))), cls)


def test_rich_request_covers_every_block_type() -> None:
    assert {type(b) for b in all_blocks(rich_request().messages)} == set(get_args(Block))


def test_chat_request_round_trips_losslessly(converter: cattrs.Converter) -> None:
    original = rich_request()
    assert through_json(converter, original, ChatRequest) == original


def test_chat_response_round_trips_losslessly(converter: cattrs.Converter) -> None:
    original = rich_response()
    back = through_json(converter, original, ChatResponse)
    assert back == original
    assert back.usage is not None and back.usage.total_tokens == 1920


def test_stream_events_round_trip(converter: cattrs.Converter) -> None:
    events = [
        StreamStart("id", "m", 1),
        ReasoningDelta("r"),
        ReasoningSignature("sig"),
        RedactedReasoning("opaque"),
        TextDelta("t"),
        ToolCallDelta(0, "call_1", "f", '{"a"'),
        ToolCallDelta(0, arguments=":1}"),
        UsageUpdate(rich_usage()),
        Finish("stop", "end_turn"),
    ]
    assert through_json(converter, events, list[StreamEvent]) == events


def test_round_trip_detects_a_change(converter: cattrs.Converter) -> None:
    # The equality above is meaningful: a single changed signature makes requests differ.
    changed = rich_request()
    changed.messages[2].content[0] = ThinkingBlock("I should call the tool.", signature="other")
    assert through_json(converter, changed, ChatRequest) != rich_request()


def test_task_record_round_trips_through_the_task_codec() -> None:
    original = rich_task()
    data = dump_task(original)
    plain = orjson.loads(data)
    assert plain["status"] == "failed" and plain["request"]["kind"] == "video"
    assert plain["error"]["code"] == "DataInspectionFailed"
    back = load_task(data)
    # GatewayError compares by identity (it is an exception), so its fields are compared apart.
    assert error_fields(back.error) == error_fields(original.error)
    assert isinstance(back.error, GatewayError)
    assert attrs.evolve(back, error=None) == attrs.evolve(original, error=None)
    assert isinstance(back.status, TaskStatus) and isinstance(back.request.kind, MediaKind)
    assert load_task(data.decode()) is not None  # str input works as well


def test_task_record_without_error_or_outputs() -> None:
    task = attrs.evolve(rich_task(TaskStatus.QUEUED), error=None, outputs=[], progress=None, vendor_task_id=None)
    assert load_task(dump_task(task)) == task


def test_task_codec_converter_is_private() -> None:
    assert codec.converter is not cattrs.global_converter


# ----------------------------------------------------------------------------- errors


def test_error_envelope_shape() -> None:
    err = GatewayError(400, "Invalid type for 'stream'.", param="stream", code="invalid_type")
    assert err.envelope() == {
        "error": {"message": "Invalid type for 'stream'.", "type": "invalid_request_error",
                  "param": "stream", "code": "invalid_type"}
    }
    validate_error(err.envelope())
    validate_error(GatewayError(500, "boom").envelope())


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "insufficient_quota"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (408, "timeout_error"),
        (409, "conflict_error"),
        (413, "invalid_request_error"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "server_error"),
        (501, "not_implemented_error"),
        (502, "upstream_error"),
        (503, "service_unavailable_error"),
        (504, "timeout_error"),
        (529, "server_error"),
        (418, "invalid_request_error"),
    ],
)
def test_default_error_type_per_status(status: int, kind: str) -> None:
    assert GatewayError(status, "x").type == kind
    assert error_type_for(status) == kind


def test_explicit_error_type_is_kept() -> None:
    assert GatewayError(401, "x", type="invalid_request_error").type == "invalid_request_error"


def test_gateway_error_is_a_raisable_exception() -> None:
    with pytest.raises(GatewayError) as info:
        raise GatewayError(429, "slow down", retryable=True, retry_after=3.0)
    assert str(info.value) == "429 rate_limit_error: slow down"
    assert (info.value.retryable, info.value.retry_after) == (True, 3.0)


def test_bad_request_helper() -> None:
    err = bad_request("no", param="messages", code="invalid_value")
    assert (err.status, err.type, err.param, err.code) == (400, "invalid_request_error", "messages", "invalid_value")


# ----------------------------------------------------------------------------- secrets

VALUE = "sk-live-0123456789abcdef"


def test_secret_never_shows_its_value(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret(VALUE)
    renderings = [
        repr(s), str(s), f"{s}", f"{s!r}", f"{s!s}", format(s), "%s" % s, "%r" % s,  # noqa: UP031
        repr([s]), str({"key": s}), repr((s,)),
    ]
    for text in renderings:
        assert VALUE not in text
        assert "***" in text
    with caplog.at_level(logging.INFO):
        logging.getLogger("relayport.test").info("using key %s (%r)", s, s)
    assert VALUE not in caplog.text
    assert s.reveal() == VALUE


def test_secret_refuses_json() -> None:
    s = Secret(VALUE)
    with pytest.raises(TypeError):
        orjson.dumps({"key": s})
    with pytest.raises(TypeError):
        json.dumps({"key": s})


def test_secret_truthiness_and_equality() -> None:
    assert Secret("a") and not Secret("")
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_deployment_repr_hides_its_key() -> None:
    spec = ProviderSpec("openai", "https://api.openai.com/v1")
    dep = Deployment("gpt-4o", spec, "gpt-4o", spec.base_url, Secret(VALUE), hooks=None,
                     headers={"X-Org": "org-1"})
    assert VALUE not in repr(dep) and VALUE not in str(dep)
    assert dep.auth_headers()["Authorization"] == "Bearer " + VALUE


def test_resolve_secret_env_reference() -> None:
    env = {"MY_KEY": VALUE, "EMPTY": ""}
    resolved = resolve_secret("env:MY_KEY", env)
    assert isinstance(resolved, Secret) and resolved.reveal() == VALUE
    assert resolve_secret("env:UNSET", env) is None
    assert resolve_secret("env:EMPTY", env) is None


def test_resolve_secret_literal_and_empty() -> None:
    literal = resolve_secret("sk-literal", {})
    assert literal is not None and literal.reveal() == "sk-literal"
    assert resolve_secret(None, {}) is None
    assert resolve_secret("", {}) is None


def test_resolve_secret_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYPORT_TEST_SECRET", VALUE)
    resolved = resolve_secret("env:RELAYPORT_TEST_SECRET")
    assert resolved is not None and resolved.reveal() == VALUE
    monkeypatch.delenv("RELAYPORT_TEST_SECRET")
    assert resolve_secret("env:RELAYPORT_TEST_SECRET") is None
