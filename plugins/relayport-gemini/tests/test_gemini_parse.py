"""Gemini answers -> canonical: responses, streams (both parser paths), usage and errors."""

from __future__ import annotations

import orjson
import pytest

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.model.stream import (
    Finish,
    ReasoningSignature,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.testing.streams import event_by_event, whole_reads
from relayport_gemini.errors import map_error
from relayport_gemini.response import parse_response
from relayport_gemini.stream import GeminiStreamParser

USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 4, "thoughtsTokenCount": 6, "totalTokenCount": 20,
         "cachedContentTokenCount": 3, "toolUsePromptTokenCount": 2,
         "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}, {"modality": "IMAGE", "tokenCount": 3}]}


def chunk(parts: list[dict], finish: str | None = None, usage: dict | None = None) -> bytes:
    cand: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    obj = {"candidates": [cand], "modelVersion": "gemini-2.5-flash", "responseId": "r1"}
    if usage:
        obj["usageMetadata"] = usage
    return b"data: " + orjson.dumps(obj) + b"\r\n\r\n"


STREAM = b"".join([
    chunk([{"text": "hmm", "thought": True}]),
    chunk([{"text": "Hel"}]), chunk([{"text": "lo"}]),
    chunk([{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}]),
    chunk([{"functionCall": {"id": "g-own-id", "name": "g"}}]),
    chunk([{"text": ""}], "STOP", USAGE),
])


def test_stream_events() -> None:
    events = event_by_event(GeminiStreamParser(), [STREAM])
    assert isinstance(events[0], StreamStart) and events[0].id == "r1"
    assert [type(e).__name__ for e in events[1:]] == [
        "ReasoningDelta", "TextDelta", "ReasoningSignature", "ToolCallDelta", "ToolCallDelta", "UsageUpdate", "Finish"]
    assert events[2] == TextDelta("Hello")
    assert events[3] == ReasoningSignature("c2ln")
    first, second = events[4], events[5]
    assert (first.index, first.name, first.arguments) == (0, "f", '{"a":1}') and first.id.startswith("call_")
    assert (second.index, second.id, second.arguments) == (1, "g-own-id", "{}")
    usage = events[6].usage
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.cached_tokens,
            usage.input_image_tokens) == (12, 10, 6, 3, 3)
    assert events[7] == Finish("tool_calls", "STOP")


def test_whole_reads_match_event_by_event_at_every_cut() -> None:
    def norm(events: list) -> list:
        # Synthesised call ids differ per parse; everything else must match.
        return [ToolCallDelta(e.index, e.id if not str(e.id).startswith("call_") else "call", e.name, e.arguments)
                if isinstance(e, ToolCallDelta) else e for e in events]

    expected = norm(event_by_event(GeminiStreamParser(), [STREAM]))
    for cut in range(0, len(STREAM) + 1, 7):
        assert norm(whole_reads(GeminiStreamParser(), [STREAM[:cut], STREAM[cut:]])) == expected


def test_runs_of_text_chunks_join_exactly() -> None:
    """feed_sse joins a read's run of text chunks before decoding: the text must come out the
    same, escapes and all, wherever the reads are cut."""
    words = ["Hel", "lo \\", '"q"', " \u00e9\n", "end"]
    raw = b"".join(chunk([{"text": w}], usage={"promptTokenCount": 3}) for w in words)
    raw += chunk([{"text": "!"}], "STOP", {"promptTokenCount": 3, "candidatesTokenCount": 6})
    expected = event_by_event(GeminiStreamParser(), [raw])
    assert [e for e in expected if isinstance(e, TextDelta)] == [TextDelta("".join(words) + "!")]
    for cut in range(0, len(raw) + 1, 3):
        assert whole_reads(GeminiStreamParser(), [raw[:cut], raw[cut:]]) == expected
    parser = GeminiStreamParser()
    events = parser.feed_sse(raw.replace(b"\r\n", b"\n"))
    assert events[1] == TextDelta("".join(words) + "!")  # one event for the whole run


def test_stream_ends_at_finish_and_complains_when_cut() -> None:
    parser = GeminiStreamParser()
    parser.feed_sse(chunk([{"text": "a"}]).replace(b"\r\n", b"\n"))
    assert not parser.done
    with pytest.raises(GatewayError) as info:
        parser.close()
    assert info.value.status == 502
    events = parser.feed_sse(chunk([{"text": "b"}], "MAX_TOKENS", {"promptTokenCount": 1}).replace(b"\r\n", b"\n"))
    assert parser.done and events[-1] == Finish("length", "MAX_TOKENS") and isinstance(events[-2], UsageUpdate)


def test_blocked_prompt_in_a_stream_is_an_error_event() -> None:
    data = b"data: " + orjson.dumps({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}) + b"\n\n"
    events = event_by_event(GeminiStreamParser(), [data])
    assert events[-1] == ("error", 400)


def test_response_parsing() -> None:
    body = {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "plan", "thought": True}, {"text": "Answer."}, {"text": " More.", "thoughtSignature": "dGV4dA=="}]},
        "finishReason": "STOP", "index": 0}], "usageMetadata": USAGE, "responseId": "abc",
        "modelVersion": "gemini-2.5-flash-001"}
    resp = parse_response(UpstreamResponse(200, {}, orjson.dumps(body)), "gemini-2.5-flash")
    msg = resp.choices[0].message
    assert msg.text() == "Answer. More." and msg.reasoning() == "plan"
    assert [type(b).__name__ for b in msg.content] == ["TextBlock", "ThinkingBlock", "TextBlock"]
    assert resp.id == "abc" and resp.model == "gemini-2.5-flash-001" and resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens == 22


@pytest.mark.parametrize(("raw", "expected"), [("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
                                               ("SPII", "content_filter"), ("MAX_TOKENS", "length"),
                                               ("MALFORMED_FUNCTION_CALL", "stop"), ("OTHER", "stop")])
def test_finish_reasons(raw: str, expected: str) -> None:
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": raw}]}
    resp = parse_response(UpstreamResponse(200, {}, orjson.dumps(body)), "m")
    assert resp.choices[0].finish_reason == expected


def test_errors() -> None:
    body = [{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]}}]
    err = map_error(UpstreamResponse(429, {}, orjson.dumps(body)))  # the array-wrapped form
    assert (err.status, err.message, err.code, err.retryable, err.retry_after) == (
        429, "quota", "RESOURCE_EXHAUSTED", True, 2.5)
    assert err.extra["quota"] == "daily"
    err = map_error(UpstreamResponse(400, {}, b'{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}'))
    assert (err.status, err.type, err.retryable) == (400, "invalid_request_error", False)
    err = map_error(UpstreamResponse(503, {"retry-after": "4"}, b"<html>upstream overloaded</html>"))
    assert err.retryable and err.retry_after == 4 and "overloaded" in err.message
