"""The OpenAI Chat Completions wire format <-> canonical model (relayport.wire.openai_chat).

What a client relies on: every content part and extension it may send is understood, nothing it
sends is silently dropped, a bad field is named in a 400, and everything relayport sends back is
valid against OpenAI's own published schema.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from relayport.model import (
    AudioBlock,
    ChatResponse,
    Choice,
    FileBlock,
    Finish,
    GatewayError,
    ImageBlock,
    Message,
    RawBlock,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RedactedThinkingBlock,
    StreamError,
    StreamEvent,
    StreamStart,
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
)
from relayport.testing.openapi import validate, validate_chat_chunk, validate_chat_completion, validate_error
from relayport.wire.openai_chat import (
    ChunkDecoder,
    ChunkEncoder,
    decode_request,
    decode_response,
    decode_usage,
    encode_message,
    encode_request,
    encode_response,
    encode_usage,
)
from relayport.wire.sse import DONE, SSEDecoder

Json = dict[str, Any]


def body(*messages: Any, **fields: Any) -> Json:
    return {"model": "gpt-4o", "messages": list(messages) or [{"role": "user", "content": "hi"}], **fields}


def user(content: Any) -> Json:
    return {"role": "user", "content": content}


def parts_of(content: list[Json]) -> list[Any]:
    return decode_request(body(user(content))).messages[0].content


# ----------------------------------------------------------------------------- content parts


def test_text_content_string_and_part() -> None:
    assert decode_request(body(user("hello"))).messages[0].content == [TextBlock("hello")]
    assert parts_of([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]) == [
        TextBlock("a"),
        TextBlock("b"),
    ]


def test_image_url_as_object_with_detail() -> None:
    [block] = parts_of([{"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}}])
    assert block == ImageBlock(url="https://x.test/a.png", detail="low")


def test_image_url_as_plain_string() -> None:
    [block] = parts_of([{"type": "image_url", "image_url": "https://x.test/a.png"}])
    assert block == ImageBlock(url="https://x.test/a.png")


def test_image_data_url_is_split_into_media_type_and_data() -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    [block] = parts_of([{"type": "image_url", "image_url": {"url": url}}])
    assert (block.media_type, block.data, block.url) == ("image/png", "iVBORw0KGgo=", url)


def test_input_audio() -> None:
    [block] = parts_of([{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}}])
    assert block == AudioBlock(data="UklGRg==", format="mp3")


def test_audio_url_object_and_string() -> None:
    assert parts_of([{"type": "audio_url", "audio_url": {"url": "https://x.test/a.wav"}}]) == [
        AudioBlock(url="https://x.test/a.wav")
    ]
    assert parts_of([{"type": "audio_url", "audio_url": "https://x.test/b.wav"}]) == [
        AudioBlock(url="https://x.test/b.wav")
    ]


def test_video_url_with_fps() -> None:
    [block] = parts_of([{"type": "video_url", "video_url": {"url": "https://x.test/v.mp4", "fps": 2}}])
    assert block == VideoBlock(url="https://x.test/v.mp4", fps=2)


def test_dashscope_video_as_frame_list() -> None:
    frames = ["https://x.test/f1.jpg", "https://x.test/f2.jpg", "https://x.test/f3.jpg"]
    [block] = parts_of([{"type": "video", "video": frames}])
    assert block == VideoBlock(frames=frames)
    assert encode_message(Message("user", [block]))["content"] == [{"type": "video", "video": frames}]


def test_file_with_data_url() -> None:
    [block] = parts_of(
        [{"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "a.pdf"}}]
    )
    assert block == FileBlock(data="JVBERi0x", media_type="application/pdf", filename="a.pdf")


def test_file_by_id_and_by_url() -> None:
    assert parts_of([{"type": "file", "file": {"file_id": "file-123"}}]) == [FileBlock(file_id="file-123")]
    assert parts_of([{"type": "file", "file": {"file_url": "https://x.test/d.pdf"}}]) == [
        FileBlock(url="https://x.test/d.pdf")
    ]


def test_unknown_part_type_is_kept_and_reencoded_identically() -> None:
    odd = {"type": "input_hologram", "hologram": {"id": "h1", "layers": [1, 2]}, "cache_control": None}
    original = body(user([{"type": "text", "text": "look"}, odd]))
    req = decode_request(copy.deepcopy(original))
    assert req.messages[0].content[1] == RawBlock(odd)
    assert encode_request(req, "gpt-4o") == original


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64"}}, "messages[0].content[1].image_url.url"),
        ({"type": "image_url", "image_url": "data:image/png;base64"}, "messages[0].content[1].image_url"),
        ({"type": "file", "file": {"file_data": "data:application/pdf"}}, "messages[0].content[1].file.file_data"),
    ],
)
def test_malformed_data_url_names_the_part(part: Json, param: str) -> None:
    exc = _error(body(user([{"type": "text", "text": "x"}, part])))
    assert exc.param == param
    assert "data URL" in exc.message


# ----------------------------------------------------------------------------- messages


def test_assistant_tool_calls_and_tool_results() -> None:
    req = decode_request(
        body(
            user("weather in Paris and Rome?"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
                    # some clients send parsed arguments; they must still reach the vendor as JSON text
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": {"city": "Rome"}}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
        )
    )
    assistant, tool1, tool2 = req.messages[1:]
    assert assistant.content == [
        ToolCallBlock("call_1", "weather", '{"city":"Paris"}'),
        ToolCallBlock("call_2", "weather", '{"city":"Rome"}'),
    ]
    assert tool1.role == "tool"
    assert tool1.content == [ToolResultBlock("call_1", [TextBlock("18C")])]
    assert tool2.content == [ToolResultBlock("call_2", [TextBlock("21C")])]


def test_reasoning_content_on_assistant_message() -> None:
    req = decode_request(
        body(user("q"), {"role": "assistant", "content": "42", "reasoning_content": "thinking..."}, user("why?"))
    )
    assert req.messages[1].content == [ThinkingBlock("thinking..."), TextBlock("42")]
    assert encode_message(req.messages[1]) == {"role": "assistant", "content": "42", "reasoning_content": "thinking..."}


def test_signed_thinking_blocks_survive_to_the_next_turn() -> None:
    blocks = [
        {"type": "thinking", "thinking": "Let me add.", "signature": "EqQBCkYIBxgCKkC"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
    ]
    message = {"role": "assistant", "content": "4", "thinking_blocks": blocks}
    req = decode_request(body(user("2+2"), message, user("and 3+3?")))
    assert req.messages[1].content == [
        ThinkingBlock("Let me add.", "EqQBCkYIBxgCKkC"),
        RedactedThinkingBlock("EmwKAhgBEgy3va3pzix"),
        TextBlock("4"),
    ]
    out = encode_message(req.messages[1])
    assert out["thinking_blocks"] == blocks
    assert out["content"] == "4"


def test_message_name_and_unknown_message_fields_are_kept() -> None:
    req = decode_request(body({"role": "user", "content": "hi", "name": "alice", "x_trace": {"a": 1}}))
    assert req.messages[0].name == "alice"
    assert req.messages[0].extra == {"x_trace": {"a": 1}}


# ----------------------------------------------------------------------------- extensions


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"enable_thinking": True}, Thinking(enabled=True)),
        ({"enable_thinking": False}, Thinking(enabled=False)),
        ({"thinking_budget": 2048}, Thinking(enabled=True, budget_tokens=2048)),
        ({"enable_thinking": True, "thinking_budget": 512}, Thinking(enabled=True, budget_tokens=512)),
        ({"reasoning_effort": "high"}, Thinking(effort="high")),
        ({"reasoning_effort": "none"}, Thinking(enabled=False)),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}},
         Thinking(enabled=True, budget_tokens=1024, kind="enabled")),
        ({"thinking": {"type": "disabled"}}, Thinking(enabled=False, kind="disabled")),
        ({"thinking": {"type": "adaptive"}}, Thinking(kind="adaptive")),
        # an explicit switch wins over what a budget implies
        ({"enable_thinking": False, "thinking_budget": 100}, Thinking(enabled=False, budget_tokens=100)),
    ],
)
def test_thinking_spellings(fields: Json, expected: Thinking) -> None:
    req = decode_request(body(**fields))
    assert req.thinking == expected
    assert req.extra == {}  # extension fields are understood, not forwarded blindly


def test_no_thinking_fields_means_vendor_default() -> None:
    assert decode_request(body()).thinking is None


def test_enable_search() -> None:
    assert decode_request(body(enable_search=True)).enable_search is True
    assert decode_request(body()).enable_search is None


def test_media_arrays_are_appended_to_the_last_user_message() -> None:
    req = decode_request(
        body(
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("describe these"),
            {"role": "assistant", "content": "(prefill)"},
            images=["https://x.test/1.png", {"url": "https://x.test/2.png"}],
            videos=["https://x.test/v.mp4"],
            file_urls=["https://x.test/d.pdf"],
            voices=["https://x.test/voice.wav"],
            media_roles={"images": ["first_frame", "last_frame"]},
        )
    )
    assert req.messages[0].content == [TextBlock("first")]
    assert req.messages[2].content == [
        TextBlock("describe these"),
        ImageBlock(url="https://x.test/1.png"),
        ImageBlock(url="https://x.test/2.png"),
        VideoBlock(url="https://x.test/v.mp4"),
        FileBlock(url="https://x.test/d.pdf"),
        AudioBlock(url="https://x.test/voice.wav"),
    ]
    assert req.messages[3].content == [TextBlock("(prefill)")]
    assert req.media.images == ["https://x.test/1.png", "https://x.test/2.png"]
    assert req.media.roles == {"images": ["first_frame", "last_frame"]}
    assert req.extra == {}


def test_media_arrays_without_a_user_message_add_one() -> None:
    req = decode_request(body({"role": "system", "content": "s"}, images=["https://x.test/1.png"]))
    assert req.messages[-1] == Message("user", [ImageBlock(url="https://x.test/1.png")])


def test_unknown_top_level_fields_ride_along() -> None:
    # Seen from an aggregator's own example: a typo of "stream" must not break the call.
    original = body(steam=False, frequency_penalty=0.5, metadata={"k": "v"}, x_vendor={"deep": [1]})
    req = decode_request(copy.deepcopy(original))
    assert req.stream is False
    assert req.extra == {"steam": False, "frequency_penalty": 0.5, "metadata": {"k": "v"}, "x_vendor": {"deep": [1]}}
    assert encode_request(req, "gpt-4o") == original


def test_stop_as_string_and_list() -> None:
    assert decode_request(body(stop="END")).stop == ["END"]
    assert decode_request(body(stop=["a", "b"])).stop == ["a", "b"]
    assert decode_request(body()).stop is None


def test_stop_as_token_ids_rides_along_to_openai_format_vendors() -> None:
    # DashScope takes token ids (never mixed with strings): kept for vendors of this format.
    req = decode_request(body(stop=[37763, 367]))
    assert req.stop is None and req.extra["stop"] == [37763, 367]
    assert encode_request(req, "qwen-plus")["stop"] == [37763, 367]


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert decode_request(body(max_tokens=10, max_completion_tokens=20)).max_tokens == 20
    assert decode_request(body(max_tokens=10)).max_tokens == 10
    assert decode_request(body(max_completion_tokens=30)).max_tokens == 30


def test_stream_options() -> None:
    req = decode_request(body(stream=True, stream_options={"include_usage": True}))
    assert (req.stream, req.include_usage) == (True, True)
    req = decode_request(body(stream=True, stream_options={"include_usage": True, "include_obfuscation": False}))
    assert req.extra["stream_options"] == {"include_usage": True, "include_obfuscation": False}


def test_tools_and_tool_choice() -> None:
    fn = {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": True}
    req = decode_request(
        body(tools=[{"type": "function", "function": fn}, {"type": "web_search", "name": "ws"}],
             tool_choice={"type": "function", "function": {"name": "f"}})
    )
    assert req.tools == [
        Tool("f", "d", {"type": "object"}, True),
        Tool("ws", type="web_search", extra={"type": "web_search", "name": "ws"}),
    ]
    assert req.tool_choice == ToolChoice("function", "f")
    for mode in ("auto", "none", "required"):
        assert decode_request(body(tool_choice=mode)).tool_choice == ToolChoice(mode)


# ----------------------------------------------------------------------------- errors


def _error(obj: Any) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        decode_request(obj)
    exc = info.value
    assert exc.status == 400
    assert exc.type == "invalid_request_error"
    assert exc.envelope()["error"]["param"] == exc.param
    validate_error(exc.envelope())
    return exc


TOOL = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(
    ("obj", "param"),
    [
        (body(user("a"), {"role": "assistant", "content": 42}), "messages[1].content"),
        (body(user("a"), "not an object"), "messages[1]"),
        (body(user([{"type": "text", "text": "a"}, "raw string"])), "messages[0].content[1]"),
        (body(user([{"text": "no type"}])), "messages[0].content[0].type"),
        (body(user([{"type": "text"}])), "messages[0].content[0].text"),
        (body(user([{"type": "text", "text": 5}])), "messages[0].content[0].text"),
        (body(user([{"type": "image_url"}])), "messages[0].content[0].image_url"),
        (body(user([{"type": "image_url", "image_url": {"detail": "low"}}])), "messages[0].content[0].image_url.url"),
        (body(user([{"type": "image_url", "image_url": 7}])), "messages[0].content[0].image_url"),
        (body(user([{"type": "input_audio", "input_audio": {"format": "wav"}}])),
         "messages[0].content[0].input_audio.data"),
        (body(user([{"type": "file", "file": "x"}])), "messages[0].content[0].file"),
        (body({"role": 1, "content": "a"}), "messages[0].role"),
        (body({"content": "a"}), "messages[0].role"),
        (body({"role": "tool", "content": "r"}), "messages[0].tool_call_id"),
        (body({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 3}}]}),
         "messages[0].tool_calls[0].function.arguments"),
        (body({"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}), "messages[0].tool_calls[0].id"),
        (body({"role": "assistant", "tool_calls": [{"id": "c"}]}), "messages[0].tool_calls[0].function"),
        (body({"role": "assistant", "tool_calls": "x"}), "messages[0].tool_calls"),
        (body({"role": "assistant", "thinking_blocks": [{"type": "redacted_thinking"}]}),
         "messages[0].thinking_blocks[0].data"),
        (body({"role": "assistant", "reasoning_content": ["x"]}), "messages[0].reasoning_content"),
        (body({"role": "user", "content": "a", "name": 3}), "messages[0].name"),
        (body(tools=[{"type": "function", "function": {"description": "no name"}}]), "tools[0].function.name"),
        (body(tools=[TOOL, {"type": "function", "function": {"name": 1}}]), "tools[1].function.name"),
        (body(tools=[{"type": "function"}]), "tools[0].function"),
        (body(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
         "tools[0].function.parameters"),
        (body(tools="f"), "tools"),
        (body(tools=["f"]), "tools[0]"),
        (body({"role": ["user"], "content": "a"}), "messages[0].role"),
        (body({"role": {"user": 1}, "content": "a"}), "messages[0].role"),
        (body(stream="yes"), "stream"),
        (body(stream=1), "stream"),
        (body(stream=True, stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
        (body(stream_options=True), "stream_options"),
        (body(temperature="hot"), "temperature"),
        (body(temperature=True), "temperature"),
        (body(max_tokens=1.5), "max_tokens"),
        (body(max_completion_tokens="10"), "max_completion_tokens"),
        (body(n=True), "n"),
        (body(seed="1"), "seed"),
        (body(stop=["a", 1]), "stop"),
        (body(stop=[1.5]), "stop"),
        (body(response_format="json"), "response_format"),
        (body(parallel_tool_calls="no"), "parallel_tool_calls"),
        (body(user=5), "user"),
        (body(enable_thinking="on"), "enable_thinking"),
        (body(thinking_budget="1k"), "thinking_budget"),
        (body(reasoning_effort=3), "reasoning_effort"),
        (body(thinking="enabled"), "thinking"),
        (body(thinking={"type": "enabled", "budget_tokens": "lots"}), "thinking.budget_tokens"),
        (body(enable_search="y"), "enable_search"),
        (body(images="https://x.test/a.png"), "images"),
        (body(videos=["https://x.test/v.mp4", 3]), "videos[1]"),
        (body(media_roles=["a"]), "media_roles"),
        (body(tool_choice=3), "tool_choice"),
        (body(tool_choice={"type": "function"}), "tool_choice.function"),
        (body(tool_choice={"type": "function", "function": {}}), "tool_choice.function.name"),
        ({"messages": [user("a")]}, "model"),
        ({"model": 4, "messages": [user("a")]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": {"role": "user"}}, "messages"),
    ],
)
def test_wrong_or_missing_field_names_its_path(obj: Json, param: str) -> None:
    exc = _error(obj)
    assert exc.param == param
    assert f"'{param}'" in exc.message


def test_error_codes() -> None:
    assert _error({"model": "m"}).code == "missing_required_parameter"
    assert _error(body(stream="yes")).code == "invalid_type"
    assert _error(body({"role": "robot", "content": "x"})).code == "invalid_value"


def test_null_fields_are_absent_fields() -> None:
    nulls = {k: None for k in ("stream", "temperature", "top_p", "n", "seed", "stop", "tools", "tool_choice",
                               "parallel_tool_calls", "response_format", "user", "max_tokens",
                               "stream_options", "enable_search", "images")}
    assert decode_request(body(**nulls)) == decode_request(body())


def test_empty_messages() -> None:
    exc = _error({"model": "m", "messages": []})
    assert exc.param == "messages"


def test_bad_role() -> None:
    exc = _error(body(user("a"), {"role": "robot", "content": "beep"}))
    assert exc.param == "messages[1].role"
    assert "robot" in exc.message


def test_bad_tool_choice_word() -> None:
    exc = _error(body(tool_choice="always"))
    assert exc.param == "tool_choice"
    assert "always" in exc.message


def test_body_must_be_an_object() -> None:
    obj: Any
    for obj in ([], "x", None, 3):
        assert _error(obj).status == 400


# ----------------------------------------------------------------------------- round trip

PLAIN_BODIES: list[Json] = [
    body(user("Hello!")),
    {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Answer briefly."},
            {"role": "system", "content": "You are terse.", "name": "ops"},
            {
                "role": "user",
                "name": "alice",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "a.pdf"}},
                    {"type": "file", "file": {"file_id": "file-abc"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
            {"role": "assistant", "content": "Paris 18C, Rome 21C.", "refusal": None},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            {"role": "user", "content": "Thanks"},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 1,
        "n": 1,
        "seed": 42,
        "stop": ["\n\n", "END"],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        "user": "user-1",
        "frequency_penalty": 0.5,
        "presence_penalty": 0,
        "logprobs": True,
        "top_logprobs": 2,
        "logit_bias": {"50256": -100},
        "metadata": {"k": "v"},
        "store": False,
        "service_tier": "auto",
    },
    body(user("stream it"), stream=True, stream_options={"include_usage": True}, tool_choice="required",
         tools=[TOOL]),
    body(user("x"), stream=True, stream_options={"include_usage": True, "include_obfuscation": False}),
    body(
        user(
            [
                {"type": "text", "text": "extension parts"},
                {"type": "audio_url", "audio_url": {"url": "https://x.test/a.wav"}},
                {"type": "video_url", "video_url": {"url": "https://x.test/v.mp4", "fps": 2}},
                {"type": "video", "video": ["https://x.test/1.jpg", "https://x.test/2.jpg"]},
                {"type": "file", "file": {"file_url": "https://x.test/d.pdf"}},
            ]
        )
    ),
]


@pytest.mark.parametrize("original", PLAIN_BODIES, ids=range(len(PLAIN_BODIES)))
def test_plain_openai_body_round_trips_to_the_same_dict(original: Json) -> None:
    sent = copy.deepcopy(original)
    req = decode_request(sent)
    assert sent == original, "decoding must not modify the client's body"
    assert encode_request(req, original["model"]) == original


def test_encode_request_uses_the_deployment_model() -> None:
    assert encode_request(decode_request(body()), "vendor-model-id")["model"] == "vendor-model-id"


# ----------------------------------------------------------------------------- usage


def test_decode_usage_maps_cached_reasoning_and_cache_writes() -> None:
    u = decode_usage(
        {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 5},
            "completion_tokens_details": {"reasoning_tokens": 200, "audio_tokens": 7},
            "cache_creation_input_tokens": 150,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 50},
        }
    )
    assert u == Usage(
        input_tokens=1200, output_tokens=300, cached_tokens=1000, cache_write_tokens=150,
        cache_write_5m_tokens=100, cache_write_1h_tokens=50, reasoning_tokens=200,
        input_audio_tokens=5, output_audio_tokens=7,
    )
    assert u.total_tokens == 1500


def test_encode_usage_writes_every_canonical_count() -> None:
    out = encode_usage(
        Usage(input_tokens=10, output_tokens=5, cached_tokens=4, cache_write_tokens=3,
              cache_write_5m_tokens=1, cache_write_1h_tokens=2, reasoning_tokens=2,
              input_audio_tokens=1, output_audio_tokens=1)
    )
    assert out == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 1},
        "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 1},
        "cache_creation_input_tokens": 3,
        "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 2},
    }
    validate("CompletionUsage", out)


def test_minimal_usage_still_has_the_detail_objects_clients_read() -> None:
    out = encode_usage(Usage(3, 4))
    assert out["prompt_tokens_details"] == {"cached_tokens": 0}
    assert out["completion_tokens_details"] == {"reasoning_tokens": 0}
    assert out["total_tokens"] == 7
    validate("CompletionUsage", out)


def test_unknown_usage_keys_are_preserved() -> None:
    # A real OpenAI usage object (prediction counts) plus DeepSeek's top-level cache counts.
    raw = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0, "image_tokens": 12},
        "completion_tokens_details": {
            "reasoning_tokens": 10,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 3,
            "rejected_prediction_tokens": 1,
        },
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
    }
    usage = decode_usage(raw)
    assert usage.extra["prompt_cache_hit_tokens"] == 64
    assert encode_usage(usage) == raw


# ----------------------------------------------------------------------------- responses


def test_encode_response_text_is_valid_openai() -> None:
    resp = ChatResponse(
        "chatcmpl-1", "gpt-4o", [Choice(Message("assistant", [TextBlock("Hi there")]), "stop")],
        created=1_700_000_000, usage=Usage(5, 2, cached_tokens=1),
    )
    out = encode_response(resp)
    validate_chat_completion(out)
    assert out["object"] == "chat.completion"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Hi there", "refusal": None}
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 1


def test_encode_response_tool_calls_and_reasoning_is_valid_openai() -> None:
    message = Message(
        "assistant",
        [
            ThinkingBlock("first", "sig-1"),
            RedactedThinkingBlock("opaque"),
            ToolCallBlock("call_1", "weather", '{"city":"Paris"}'),
            ToolCallBlock("call_2", "time", "{}"),
        ],
    )
    out = encode_response(ChatResponse("id-1", "m", [Choice(message, "tool_calls")], created=1, usage=Usage(1, 2)))
    validate_chat_completion(out)
    msg = out["choices"][0]["message"]
    assert msg["content"] is None
    assert msg["reasoning_content"] == "first"
    assert msg["thinking_blocks"] == [
        {"type": "thinking", "thinking": "first", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    assert [c["id"] for c in msg["tool_calls"]] == ["call_1", "call_2"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"


def test_encode_response_without_finish_reason_or_usage_is_valid() -> None:
    out = encode_response(ChatResponse("id", "m", [Choice(Message("assistant", []))]))
    validate_chat_completion(out)
    assert out["created"] > 0
    assert "usage" not in out


OPENAI_RESPONSE: Json = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The image shows a wooden boardwalk.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": {"content": [{"token": "The", "logprob": -0.1, "bytes": [84, 104, 101], "top_logprobs": []}],
                         "refusal": None},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}


def test_openai_response_survives_decode_and_encode() -> None:
    validate_chat_completion(OPENAI_RESPONSE)
    out = encode_response(decode_response(copy.deepcopy(OPENAI_RESPONSE)))
    validate_chat_completion(out)
    assert out == OPENAI_RESPONSE


# ----------------------------------------------------------------------------- streams


def _chunks(raw: bytes) -> list[Any]:
    """SSE bytes -> list of decoded chunks, with the string "[DONE]" for the terminator."""
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    assert decoder.flush() == [], "every event must end with a blank line"
    return ["[DONE]" if e.data == DONE else orjson.loads(e.data) for e in events]


def _check_stream(chunks: list[Any], include_usage: bool) -> list[Json]:
    """Every chunk valid against OpenAI's schema, [DONE] last and once; returns the chat chunks."""
    assert chunks[-1] == "[DONE]"
    assert chunks.count("[DONE]") == 1
    body_chunks = chunks[:-1]
    for c in body_chunks:
        validate_chat_chunk(c)
    assert len({c["id"] for c in body_chunks}) == 1
    assert len({c["created"] for c in body_chunks}) == 1
    roles = [c["choices"][0]["delta"].get("role") for c in body_chunks if c["choices"]]
    assert roles[0] == "assistant" and not any(roles[1:]), "role only on the first chunk"
    usage_chunks = [c for c in body_chunks if c.get("usage")]
    if include_usage:
        assert usage_chunks == [body_chunks[-1]]
        assert body_chunks[-1]["choices"] == []
    else:
        assert usage_chunks == []
    return body_chunks


def test_text_stream_is_valid_openai() -> None:
    enc = ChunkEncoder("chatcmpl-x", "gpt-4o", include_usage=False, created=1_700_000_000)
    raw = enc.encode([StreamStart("up-1", "gpt-4o-2024", 1_700_000_001), TextDelta("Hel"), TextDelta("lo")])
    raw += enc.encode([TextDelta(""), Finish("stop")]) + enc.finish()
    chunks = _check_stream(_chunks(raw), include_usage=False)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Hello"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[0]["model"] == "gpt-4o-2024"


def test_tool_call_stream_is_valid_openai() -> None:
    enc = ChunkEncoder("chatcmpl-x", "m", include_usage=True, created=1)
    raw = enc.encode(
        [
            ToolCallDelta(0, "call_a", "weather", ""),
            ToolCallDelta(0, arguments='{"city":'),
            ToolCallDelta(0, arguments='"Paris"}'),
            ToolCallDelta(1, "call_b", "time", "{}"),
            UsageUpdate(Usage(10, 20)),
            UsageUpdate(Usage(12, 25, reasoning_tokens=5)),  # the last one counts
            Finish("tool_calls"),
        ]
    )
    chunks = _check_stream(_chunks(raw + enc.finish()), include_usage=True)
    calls: dict[int, Json] = {}
    for c in chunks:
        for tc in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            slot = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
            if "id" in tc:
                assert slot["id"] is None, "id only on a call's first delta"
                slot["id"] = tc["id"]
                assert tc["type"] == "function"
            slot["name"] = tc["function"].get("name") or slot["name"]
            slot["arguments"] += tc["function"].get("arguments", "")
    assert calls == {
        0: {"id": "call_a", "name": "weather", "arguments": '{"city":"Paris"}'},
        1: {"id": "call_b", "name": "time", "arguments": "{}"},
    }
    assert chunks[-1]["usage"]["prompt_tokens"] == 12
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5


def test_reasoning_and_thinking_blocks_stream_is_valid_openai() -> None:
    enc = ChunkEncoder("chatcmpl-x", "m", include_usage=False, created=1)
    raw = enc.encode(
        [
            ReasoningDelta("Let me "),
            ReasoningDelta("think."),
            ReasoningSignature("sig-abc"),
            RedactedReasoning("opaque-data"),
            ReasoningDelta("More."),
            ReasoningSignature("sig-def"),
            TextDelta("Answer"),
            Finish("stop"),
        ]
    )
    chunks = _check_stream(_chunks(raw + enc.finish()), include_usage=False)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Let me think.More."
    blocks = [b for d in deltas for b in d.get("thinking_blocks", [])]
    assert blocks == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig-abc"},
        {"type": "redacted_thinking", "data": "opaque-data"},
        {"type": "thinking", "thinking": "More.", "signature": "sig-def"},
    ]


def test_no_usage_chunk_is_invented_when_the_vendor_reported_none() -> None:
    # Issue 8 item 5: a client told "0 tokens" would bill or budget wrongly; nothing is honest.
    enc = ChunkEncoder("chatcmpl-x", "m", include_usage=True, created=1)
    raw = enc.encode([TextDelta("x"), Finish("length")]) + enc.finish()
    chunks = _chunks(raw)
    assert chunks[-1] == "[DONE]"
    for chunk in chunks[:-1]:
        validate_chat_chunk(chunk)
    assert all(c["choices"] and c.get("usage") is None for c in chunks[:-1])


def test_finish_is_written_once() -> None:
    enc = ChunkEncoder("chatcmpl-x", "m", include_usage=False, created=1)
    first = enc.finish()
    assert first.endswith(b"data: [DONE]\n\n")
    assert enc.finish() == b""


def test_error_after_stream_started_is_an_error_chunk_and_ends_the_stream() -> None:
    enc = ChunkEncoder("chatcmpl-x", "m", include_usage=True, created=1)
    error = GatewayError(502, "upstream: connection reset", code="upstream_disconnected")
    raw = enc.encode([TextDelta("partial"), StreamError(error)])
    chunks = _chunks(raw)
    validate_chat_chunk(chunks[0])
    validate_error(chunks[-1])
    assert chunks[-1] == {
        "error": {"message": "upstream: connection reset", "type": "upstream_error", "param": None,
                  "code": "upstream_disconnected"}
    }
    # Nothing may follow the error (no usage chunk, no [DONE] that would read as success).
    assert enc.finish() == b""


def test_decoded_openai_stream_gives_canonical_events() -> None:
    decoder = ChunkDecoder()
    base = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o"}

    def chunk(delta: Json, finish: str | None = None, **extra: Any) -> Json:
        c = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
        validate_chat_chunk(c)
        return c

    events = []
    events += decoder.decode(chunk({"role": "assistant", "content": "", "refusal": None}))
    events += decoder.decode(chunk({"reasoning_content": "hmm"}))
    events += decoder.decode(chunk({"content": "Let me check."}))
    events += decoder.decode(
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "weather", "arguments": ""}}]})
    )
    events += decoder.decode(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city"'}}]}))
    events += decoder.decode(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ':"Paris"}'}}]}))
    events += decoder.decode(
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                               "function": {"name": "time", "arguments": "{}"}}]})
    )
    events += decoder.decode(chunk({}, "tool_calls"))
    usage = {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
                                              "prompt_tokens_details": {"cached_tokens": 8}}}
    validate_chat_chunk(usage)
    events += decoder.decode(usage)
    assert events == [
        StreamStart("chatcmpl-9", "gpt-4o", 1700000000),
        ReasoningDelta("hmm"),
        TextDelta("Let me check."),
        ToolCallDelta(0, "call_1", "weather", ""),
        ToolCallDelta(0, None, None, '{"city"'),
        ToolCallDelta(0, None, None, ':"Paris"}'),
        ToolCallDelta(1, "call_2", "time", "{}"),
        Finish("tool_calls", "tool_calls"),
        UsageUpdate(Usage(9, 4, cached_tokens=8)),
    ]
    assert sum(isinstance(e, StreamStart) for e in events) == 1


def test_chunk_decoder_reads_a_vendor_reasoning_field_and_skips_other_choices() -> None:
    decoder = ChunkDecoder(reasoning_field="reasoning")
    obj = {"id": "x", "model": "m", "created": 1,
           "choices": [{"index": 0, "delta": {"reasoning": "r"}}, {"index": 1, "delta": {"content": "other"}}]}
    assert decoder.decode(obj) == [StreamStart("x", "m", 1), ReasoningDelta("r")]


def test_encoder_and_decoder_agree() -> None:
    events: list[StreamEvent] = [
        ReasoningDelta("because"),
        TextDelta("Sure. "),
        ToolCallDelta(0, "call_1", "f", '{"a":'),
        ToolCallDelta(0, arguments="1}"),
        Finish("tool_calls"),
        UsageUpdate(Usage(7, 3, cached_tokens=2, reasoning_tokens=1)),
    ]
    enc = ChunkEncoder("chatcmpl-rt", "m", include_usage=True, created=5)
    chunks = _check_stream(_chunks(enc.encode(events) + enc.finish()), include_usage=True)
    decoder = ChunkDecoder()
    back = [e for c in chunks for e in decoder.decode(c)]
    assert back[0] == StreamStart("chatcmpl-rt", "m", 5)
    assert back[1:-2] == events[:-2]
    assert back[-2] == Finish("tool_calls", "tool_calls")
    assert back[-1] == UsageUpdate(Usage(7, 3, cached_tokens=2, reasoning_tokens=1))


def test_chunk_id_is_made_up_once_when_the_vendor_gives_none() -> None:
    enc = ChunkEncoder("", "m", include_usage=True, created=1)
    raw = enc.encode([StreamStart("", ""), TextDelta("a")]) + enc.encode([TextDelta("b")]) + enc.finish()
    ids = {orjson.loads(line[6:])["id"] for line in raw.split(b"\n") if line.startswith(b"data: {")}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    vendor = ChunkEncoder("", "m", include_usage=True, created=1)
    raw = vendor.encode([StreamStart("msg_01", "claude"), TextDelta("a")]) + vendor.finish()
    assert {orjson.loads(line[6:])["id"] for line in raw.split(b"\n") if line.startswith(b"data: {")} == {"msg_01"}
