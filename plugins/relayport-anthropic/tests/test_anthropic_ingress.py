"""The Messages surface's codec: Anthropic requests -> canonical, canonical answers and events ->
Anthropic, each output checked with the anthropic SDK's own types (validated, not just constructed)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from anthropic_helpers import sse_events
from pydantic import TypeAdapter

from relayport.model.chat import ChatResponse, Choice, Message
from relayport.model.content import (
    FileBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
)
from relayport.model.errors import GatewayError
from relayport.model.stream import (
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.model.usage import Usage
from relayport.wire import openai_chat
from relayport_anthropic import ingress
from relayport_anthropic.events import EventEncoder

EVENT = TypeAdapter(RawMessageStreamEvent)


def decode(**body: Any) -> Any:
    return ingress.decode_request({"model": "m", "max_tokens": 100, **body})


# ------------------------------------------------------------------- requests


def test_request_fields() -> None:
    req = decode(
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hi"}],
        stop_sequences=["END"], temperature=0.3, top_p=0.9, top_k=5, stream=True,
        metadata={"user_id": "u1"}, service_tier="auto", container="c",
        thinking={"type": "enabled", "budget_tokens": 2048},
        output_config={"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}},
    )
    assert req.model == "m" and req.max_tokens == 100 and req.stream and req.include_usage
    assert req.messages[0] == Message("system", [TextBlock("be brief", extra={"cache_control": {"type": "ephemeral"}})])
    assert req.stop == ["END"] and req.temperature == 0.3 and req.top_p == 0.9 and req.user == "u1"
    assert req.thinking is not None
    assert (req.thinking.enabled, req.thinking.budget_tokens, req.thinking.effort) == (True, 2048, "high")
    assert req.response_format == {"type": "json_schema",
                                   "json_schema": {"name": "output", "schema": {"type": "object"}, "strict": True}}
    # Anthropic-only fields would be refused by the other vendors this path serves.
    assert req.extra == {}
    body = openai_chat.encode_request(req, "gpt")
    assert "top_k" not in body and "container" not in body and "service_tier" not in body


def test_tool_results_become_tool_messages_before_the_users_text() -> None:
    req = decode(messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "redacted_thinking", "data": "r"},
            {"type": "text", "text": "calling"},
            {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "w", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "boom"}]},
            {"type": "text", "text": "and?"},
        ]},
    ])
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "tool", "user"]
    assert req.messages[1].content == [
        ThinkingBlock("t", "s"), RedactedThinkingBlock("r"), TextBlock("calling"),
        ToolCallBlock("toolu_1", "w", '{"city":"Paris"}'), ToolCallBlock("toolu_2", "w", "{}"),
    ]
    assert req.messages[2].content == [ToolResultBlock("toolu_1", [TextBlock("sunny")])]
    assert req.messages[3].content == [ToolResultBlock("toolu_2", [TextBlock("boom")], is_error=True)]
    # And the OpenAI encoding a compatible vendor gets is well-formed.
    sent = [openai_chat.encode_message(m) for m in req.messages]
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
    assert sent[1]["tool_calls"][0]["function"] == {"name": "w", "arguments": '{"city":"Paris"}'}


def test_media_blocks() -> None:
    req = decode(messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}},
        {"type": "document", "title": "r.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVB"}},
        {"type": "document", "source": {"type": "url", "url": "https://x/r.pdf"}},
        {"type": "document", "title": "notes", "source": {"type": "text", "media_type": "text/plain", "data": "abc"}},
        {"type": "search_result", "source": "s", "title": "t", "content": [{"type": "text", "text": "x"}]},
    ]}])
    c = req.messages[0].content
    assert c[0] == ImageBlock(data="AAA", media_type="image/png")
    assert c[1] == ImageBlock(url="https://x/cat.png")
    assert c[2] == FileBlock(data="JVB", media_type="application/pdf", filename="r.pdf")
    assert c[3] == FileBlock(url="https://x/r.pdf")
    assert c[4] == TextBlock("notes\n\nabc")
    assert isinstance(c[5], RawBlock) and c[5].extra == {"format": "anthropic"}
    part = openai_chat.encode_part(c[0])
    assert part == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}


def test_tools_choice_and_server_tools() -> None:
    tools = [{"name": "w", "description": "d", "input_schema": {"type": "object"}},
             {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]
    req = decode(messages=[{"role": "user", "content": "hi"}], tools=tools,
                 tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert [t.name for t in req.tools] == ["w"] and req.enable_search
    assert req.tool_choice.mode == "required" and req.parallel_tool_calls is False
    for choice, mode in [({"type": "auto"}, "auto"), ({"type": "none"}, "none"),
                         ({"type": "tool", "name": "w"}, "function")]:
        assert decode(messages=[{"role": "user", "content": "x"}], tools=tools, tool_choice=choice).tool_choice.mode == mode
    with pytest.raises(GatewayError) as info:
        decode(messages=[{"role": "user", "content": "x"}], tools=[{"type": "bash_20250124", "name": "bash"}])
    assert "only available on Claude" in info.value.message


@pytest.mark.parametrize("body,param", [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "max_tokens": 1}, "messages"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
      "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
])
def test_request_errors_name_the_field(body: dict, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        ingress.decode_request(body)
    assert info.value.status == 400 and info.value.param == param


# ------------------------------------------------------------------- responses


def test_response_is_a_valid_sdk_message() -> None:
    resp = ChatResponse("chatcmpl-9", "gpt", [Choice(Message("assistant", [
        ThinkingBlock("reasoned"), TextBlock("answer"), ToolCallBlock("call_1", "f", '{"a": 1}'),
        ToolCallBlock("functions.g:1", "g", "not json"),
    ]), "tool_calls")], usage=Usage(input_tokens=120, output_tokens=30, cached_tokens=100, reasoning_tokens=12))
    obj = ingress.encode_response(resp, "client-model")
    msg = SDKMessage.model_validate(obj)
    assert msg.id == "msg_chatcmpl-9" and msg.model == "client-model" and msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert msg.content[2].input == {"a": 1} and msg.content[3].id == "functions_g_1"
    assert msg.content[3].input == {"_raw_arguments": "not json"}
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (20, 100, 30)


@pytest.mark.parametrize("finish,stop", [("stop", "end_turn"), ("length", "max_tokens"),
                                         ("tool_calls", "tool_use"), ("content_filter", "refusal"),
                                         (None, "end_turn"), ("weird", "end_turn")])
def test_response_stop_reasons(finish: str | None, stop: str) -> None:
    resp = ChatResponse("x", "m", [Choice(Message("assistant", [TextBlock("a")]), finish)])
    assert ingress.encode_response(resp, "m")["stop_reason"] == stop


# ------------------------------------------------------------------- stream events


def replay(raw: bytes) -> Any:
    """Validate every event with the SDK's types and accumulate them like `messages.stream()`."""
    snapshot = None
    bufs: dict[int, bytes] = {}
    for name, obj in sse_events(raw):
        assert name == obj["type"]
        if name == "error":
            raise AssertionError(f"error event: {obj}")
        event = EVENT.validate_python(obj)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    return snapshot


def test_events_have_contiguous_block_indices_and_accumulate_in_the_sdk() -> None:
    enc = EventEncoder("client-model")
    batches = [
        [StreamStart("chatcmpl-1", "gpt"), ReasoningDelta("think "), ReasoningDelta("hard")],
        [ReasoningSignature("sig"), RedactedReasoning("opaque"), TextDelta("Hello"), TextDelta(" world")],
        [ToolCallDelta(0, "call_a", "f", ""), ToolCallDelta(0, arguments='{"x"'), ToolCallDelta(0, arguments=":1}")],
        [ToolCallDelta(1, "call_b", "g", "")],  # a call without arguments
        [Finish("tool_calls"), UsageUpdate(Usage(input_tokens=50, output_tokens=9, cached_tokens=20))],
    ]
    raw = b"".join(enc.encode(b) for b in batches) + enc.end()
    events = sse_events(raw)
    starts = [o["index"] for n, o in events if n == "content_block_start"]
    stops = [o["index"] for n, o in events if n == "content_block_stop"]
    assert starts == stops == [0, 1, 2, 3, 4]
    msg = replay(raw)
    assert msg.model == "client-model" and msg.id == "msg_chatcmpl-1"
    assert [b.type for b in msg.content] == ["thinking", "redacted_thinking", "text", "tool_use", "tool_use"]
    assert msg.content[0].thinking == "think hard" and msg.content[0].signature == "sig"
    assert msg.content[2].text == "Hello world"
    assert msg.content[3].input == {"x": 1} and msg.content[4].input == {}
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (30, 20, 9)


def test_text_only_stream_without_stream_start() -> None:
    enc = EventEncoder("m")
    raw = enc.encode([TextDelta("a")]) + enc.encode([TextDelta("b"), Finish("length")]) + enc.end()
    msg = replay(raw)
    assert msg.content[0].text == "ab" and msg.stop_reason == "max_tokens"
    assert msg.id.startswith("msg_")


def test_empty_stream_still_makes_a_message() -> None:
    enc = EventEncoder("m")
    msg = replay(enc.encode([]) + enc.end())
    assert msg.content == [] and msg.stop_reason == "end_turn"


def test_error_mid_stream_is_an_error_event_and_the_end() -> None:
    enc = EventEncoder("m")
    raw = enc.encode([TextDelta("partial")])
    raw += enc.encode([StreamError(GatewayError(502, "vendor went away", code="upstream_unreachable"))])
    raw += enc.end()
    events = sse_events(raw)
    assert events[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "vendor went away"},
                                    "request_id": None})
    assert not any(n == "message_stop" for n, _ in events)


def test_one_batch_is_one_bytes_object() -> None:
    enc = EventEncoder("m")
    data = enc.encode([StreamStart("x", "m")] + [TextDelta(str(i)) for i in range(50)])
    assert isinstance(data, bytes) and data.count(b"content_block_delta\ndata") == 50
    assert orjson.loads(data.split(b"data: ")[1].split(b"\n")[0])["type"] == "message_start"
