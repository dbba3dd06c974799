"""Messages responses, streams and errors -> canonical; every Anthropic event type."""

from __future__ import annotations

import orjson
import pytest

from relayport.model.content import RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolCallBlock
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
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
from relayport.wire.openai_chat import ChunkEncoder
from relayport.wire.sse import SSEDecoder, SSEEvent
from relayport_anthropic import errors, vocab
from relayport_anthropic.response import parse_response
from relayport_anthropic.stream import AnthropicStreamParser
from relayport_anthropic.testing import FakeAnthropic, sign, sse

USAGE = {"input_tokens": 10, "output_tokens": 50, "cache_creation_input_tokens": 200,
         "cache_read_input_tokens": 1000,
         "cache_creation": {"ephemeral_5m_input_tokens": 150, "ephemeral_1h_input_tokens": 50},
         "output_tokens_details": {"thinking_tokens": 30}, "service_tier": "standard"}


def ok(obj: dict) -> UpstreamResponse:
    return UpstreamResponse(200, {}, orjson.dumps(obj))


# ------------------------------------------------------------------- non-stream


def test_message_with_every_block_type() -> None:
    resp = parse_response(ok({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Paris", "citations": [{"type": "char_location"}]},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use", "stop_sequence": None, "usage": USAGE,
    }))
    assert resp.id == "msg_1" and resp.model == "claude-x"
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == [
        ThinkingBlock("hmm", "sig"), RedactedThinkingBlock("opaque"),
        TextBlock("Paris", extra={"citations": [{"type": "char_location"}]}),
        ToolCallBlock("toolu_1", "f", '{"a":1}'),
    ]
    u = resp.usage
    assert u is not None
    assert (u.input_tokens, u.output_tokens, u.cached_tokens, u.cache_write_tokens) == (1210, 50, 1000, 200)
    assert (u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.reasoning_tokens) == (150, 50, 30)


@pytest.mark.parametrize("stop,finish", sorted(vocab.FINISH_REASONS.items()))
def test_stop_reasons(stop: str, finish: str) -> None:
    resp = parse_response(ok({"id": "m", "content": [{"type": "text", "text": "x"}], "stop_reason": stop,
                              "usage": {"input_tokens": 1, "output_tokens": 1}}))
    assert resp.choices[0].finish_reason == finish


def test_tool_use_with_empty_input_gives_an_empty_object() -> None:
    resp = parse_response(ok({"id": "m", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                              "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}}))
    assert resp.choices[0].message.content == [ToolCallBlock("t", "f", "{}")]


def test_error_bodies_and_garbage() -> None:
    with pytest.raises(GatewayError) as info:
        parse_response(ok({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}))
    assert info.value.status == 529 and info.value.retryable
    with pytest.raises(GatewayError):
        parse_response(UpstreamResponse(200, {}, b"<html>"))
    with pytest.raises(GatewayError):
        parse_response(ok({"id": "m"}))


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize("status,kind,openai_type,retryable", [
    (400, "invalid_request_error", "invalid_request_error", False),
    (401, "authentication_error", "authentication_error", False),
    (402, "billing_error", "insufficient_quota", False),
    (403, "permission_error", "permission_error", False),
    (404, "not_found_error", "not_found_error", False),
    (413, "request_too_large", "invalid_request_error", False),
    (429, "rate_limit_error", "rate_limit_error", True),
    (500, "api_error", "server_error", True),
    (504, "timeout_error", "timeout_error", True),
    (529, "overloaded_error", "server_error", True),
])
def test_error_envelope_mapping(status: int, kind: str, openai_type: str, retryable: bool) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": kind, "message": "why"}, "request_id": "req_1"})
    err = errors.map_error(UpstreamResponse(status, {"retry-after": "7"}, body))
    assert (err.status, err.type, err.code, err.message) == (status, openai_type, kind, "why")
    assert err.retryable is retryable
    assert err.retry_after == 7.0
    assert err.extra["request_id"] == "req_1"
    # And back, for Anthropic clients: the same type.
    env = errors.envelope(err)
    assert env == {"type": "error", "error": {"type": kind, "message": "why"}, "request_id": "req_1"}


def test_error_headers_and_non_json_bodies() -> None:
    err = errors.map_error(UpstreamResponse(429, {"retry-after-ms": "1500", "x-should-retry": "false"},
                                            b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}'))
    assert err.retry_after == 1.5 and not err.retryable
    err = errors.map_error(UpstreamResponse(413, {}, b"<html>413 Request Entity Too Large</html>"))
    assert err.status == 413 and "Too Large" in err.message
    err = errors.map_error(UpstreamResponse(502, {}, b""))
    assert err.message == "HTTP 502" and err.retryable


def test_rendering_gateway_errors_for_anthropic_clients() -> None:
    for status, kind in [(400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error"),
                         (429, "rate_limit_error"), (502, "api_error"), (503, "overloaded_error"),
                         (504, "timeout_error"), (501, "api_error"), (422, "invalid_request_error")]:
        status_out, body = errors.render_error(GatewayError(status, "m"))
        assert status_out == status
        assert orjson.loads(body)["error"]["type"] == kind
    event = errors.error_event(GatewayError(529, "busy", code="overloaded_error"))
    assert event.startswith(b"event: error\ndata: ")


# ------------------------------------------------------------------- streams


def feed_all(raw: list[bytes]) -> tuple[list, AnthropicStreamParser]:
    """Feed SSE bytes through the core's decoder and the parser, as the core does."""
    parser = AnthropicStreamParser()
    decoder = SSEDecoder()
    events: list = []
    for chunk in raw:
        for ev in decoder.feed(chunk):
            events.extend(parser.feed(ev))
    return events, parser


def realistic_stream() -> list[bytes]:
    fake = FakeAnthropic()
    fake.queue_turn([
        {"type": "thinking", "thinking": "Two cities, two calls."},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_02", "name": "clock", "input": {}},
    ], usage=USAGE)
    turn = fake.turns.popleft()
    body = {"model": "claude-x", "messages": [{"role": "user", "content": "x"}]}
    reply = fake._stream(body, turn)
    assert reply.events is not None
    return reply.events


def test_realistic_stream_with_thinking_and_parallel_tools() -> None:
    events, parser = feed_all(realistic_stream())
    assert parser.done
    kinds = [type(e) for e in events]
    assert kinds[0] is StreamStart and kinds[1] is UsageUpdate
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Two cities, two calls."
    sig = [e for e in events if isinstance(e, ReasoningSignature)]
    assert sig == [ReasoningSignature(sign("Two cities, two calls."))]
    assert [e for e in events if isinstance(e, RedactedReasoning)] == [RedactedReasoning("EmwKAhgBEgy")]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Checking both."
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls[0] == ToolCallDelta(0, "toolu_01", "weather", "")
    assert "".join(c.arguments for c in calls if c.index == 0) == '{"city":"Paris"}'
    assert [c for c in calls if c.index == 1] == [ToolCallDelta(1, "toolu_02", "clock", ""),
                                                  ToolCallDelta(1, None, None, "{}")]
    finish = [e for e in events if isinstance(e, Finish)]
    assert finish == [Finish("tool_calls", "tool_use")]
    last_usage = [e for e in events if isinstance(e, UsageUpdate)][-1].usage
    assert (last_usage.input_tokens, last_usage.cached_tokens, last_usage.cache_write_tokens) == (1210, 1000, 200)
    assert (last_usage.cache_write_5m_tokens, last_usage.cache_write_1h_tokens) == (150, 50)


def test_stream_split_at_every_byte_gives_the_same_events() -> None:
    raw = b"".join(realistic_stream())
    whole, _ = feed_all([raw])
    bytewise, parser = feed_all([raw[i:i + 1] for i in range(len(raw))])
    assert bytewise == whole and parser.done


def test_stream_through_the_openai_chunk_encoder_carries_signed_thinking() -> None:
    events, _ = feed_all(realistic_stream())
    enc = ChunkEncoder("chatcmpl-1", "claude", include_usage=True)
    raw = enc.encode(events) + enc.finish()
    chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
    blocks = [b for c in chunks if c["choices"] for b in c["choices"][0]["delta"].get("thinking_blocks", [])]
    assert blocks == [
        {"type": "thinking", "thinking": "Two cities, two calls.", "signature": sign("Two cities, two calls.")},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
    ]
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 1000
    assert raw.endswith(b"data: [DONE]\n\n")


def test_error_event_mid_stream_is_a_retryable_529_event() -> None:
    parser = AnthropicStreamParser()
    parser.feed(SSEEvent(b'{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1,"output_tokens":1}}}', "message_start"))
    [event] = parser.feed(SSEEvent(b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "error"))
    assert isinstance(event, StreamError)
    err = event.error
    assert err.status == 529 and err.retryable and err.code == "overloaded_error"
    assert parser.done


def test_stream_that_ends_early_raises_and_one_that_finished_does_not() -> None:
    parser = AnthropicStreamParser()
    parser.feed(SSEEvent(b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'))
    with pytest.raises(GatewayError) as info:
        parser.close()
    assert info.value.status == 502
    parser.feed(SSEEvent(b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}'))
    assert parser.close() == []


def test_pings_unknown_events_citations_and_server_tools_are_ignored() -> None:
    parser = AnthropicStreamParser()
    quiet = [
        b'{"type":"ping"}',
        b'{"type":"brand_new_event","x":1}',
        b'{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"q\\":1}"}}',
        b'{"type":"content_block_stop","index":0}',
        b'{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{}}}',
        b"",
    ]
    for data in quiet:
        assert parser.feed(SSEEvent(data)) == []


def test_compatible_vendor_quirks() -> None:
    """Vendors with Anthropic-compatible endpoints: no `event:` lines, whole tool input and the
    signature in content_block_start, initial text in the start block."""
    parser = AnthropicStreamParser()
    out = []
    for obj in [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "t", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "Hi"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}},
        {"type": "content_block_stop", "index": 2},
    ]:
        out.extend(parser.feed(SSEEvent(orjson.dumps(obj))))
    assert out == [ReasoningDelta("t"), ReasoningSignature("s"), TextDelta("Hi"),
                   ToolCallDelta(0, "c1", "f", '{"a":1}')]


def test_message_delta_usage_is_cumulative_and_merged() -> None:
    parser = AnthropicStreamParser()
    parser.feed(SSEEvent(orjson.dumps({"type": "message_start", "message": {
        "id": "m", "model": "c", "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 1}}})))
    events = parser.feed(SSEEvent(orjson.dumps({"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
                                                "usage": {"output_tokens": 40, "input_tokens": None}})))
    usage = events[0].usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (105, 40, 100)
    assert events[1] == Finish("length", "max_tokens")


def test_not_json_event_is_a_502() -> None:
    with pytest.raises(GatewayError):
        AnthropicStreamParser().feed(SSEEvent(b"{oops"))


def test_bench_fixture_stream_parses() -> None:
    events = [
        sse("message_start", {"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant",
                                                                    "model": "c", "content": [], "usage": {"input_tokens": 42, "output_tokens": 1}}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        sse("ping", {"type": "ping"}),
        sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 1}}),
        sse("message_stop", {"type": "message_stop"}),
    ]
    out, parser = feed_all(events)
    assert parser.done and TextDelta("x") in out and Finish("stop", "end_turn") in out
