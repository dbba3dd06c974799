"""The pieces without a gateway: frames, the Converse body, errors, regions."""

from __future__ import annotations

import pytest

from relayport.model.chat import ChatRequest, Message, Thinking
from relayport.model.content import TextBlock, ThinkingBlock, ToolCallBlock, ToolResultBlock
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.model.stream import (
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    StreamError,
    StreamStart,
    TextDelta,
    UsageUpdate,
)
from relayport.wire.eventstream import EventStreamDecoder
from relayport.wire.sse import SSEEvent
from relayport_bedrock import converse, errors, vocab
from relayport_bedrock.stream import ConverseStreamParser
from relayport_bedrock.testing import event_frame, exception_frame, frame


def test_frames_cut_at_every_byte_decode_the_same() -> None:
    data = frame({":event-type": "chunk", ":message-type": "event"}, b'{"a":1}') + \
        event_frame("metadata", {"usage": {"inputTokens": 1}}) + frame({}, b"")
    for cut in range(len(data) + 1):
        decoder = EventStreamDecoder()
        frames = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert [f.name for f in frames] == ["chunk", "metadata", ""]
        assert frames[0].payload == b'{"a":1}' and decoder.pending == 0
    decoder = EventStreamDecoder()
    assert len(decoder.feed(data[:-3])) == 2 and decoder.pending == 13  # the last (16-byte) frame is cut


def test_a_bad_crc_is_a_502() -> None:
    bad = bytearray(frame({":event-type": "x"}, b"payload"))
    bad[8] ^= 1  # the prelude CRC
    with pytest.raises(GatewayError) as caught:
        EventStreamDecoder("bedrock").feed(bytes(bad))
    assert caught.value.status == 502 and caught.value.code == "upstream_malformed_stream"


def test_stream_parser_reads_reasoning_text_and_usage_across_reads() -> None:
    data = b"".join([
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0,
                                          "delta": {"reasoningContent": {"signature": "sig"}}}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "hi"}}),
        event_frame("messageStop", {"stopReason": "max_tokens"}),
        event_frame("metadata", {"usage": {"inputTokens": 3, "outputTokens": 4, "cacheWriteInputTokens": 7}}),
    ])
    parser = ConverseStreamParser("m")
    events = []
    for i in range(0, len(data), 7):
        events += parser.feed(SSEEvent(data[i:i + 7]))
    kinds = [e for e in events if not isinstance(e, StreamStart)]
    assert kinds[:3] == [ReasoningDelta("hmm"), ReasoningSignature("sig"), TextDelta("hi")]
    assert kinds[3] == Finish("length", "max_tokens")
    usage = kinds[4]
    assert isinstance(usage, UsageUpdate) and usage.usage.input_tokens == 10 and usage.usage.cache_write_tokens == 7
    assert parser.done and parser.close() == []


def test_stream_that_ends_early_or_fails_is_an_error() -> None:
    parser = ConverseStreamParser("m")
    parser.feed(SSEEvent(event_frame("messageStart", {"role": "assistant"})))
    with pytest.raises(GatewayError, match="before the model finished"):
        parser.close()
    events = ConverseStreamParser("m").feed(SSEEvent(
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}})
        + exception_frame("validationException", "Input is too long for requested model.")))
    assert isinstance(events[-1], StreamError) and events[-2] == TextDelta("a")
    assert events[-1].error.status == 400 and events[-1].error.code == "context_length_exceeded"


def test_converse_body_alternates_and_replays_signed_thinking_only() -> None:
    req = ChatRequest(model="m", messages=[
        Message("user", [TextBlock("a")]), Message("user", [TextBlock("b")]),
        Message("assistant", [ThinkingBlock("unsigned"), ThinkingBlock("signed", "s1"),
                              ToolCallBlock("t1", "f", '{"x": 1}')]),
        Message("tool", [ToolResultBlock("t1", [TextBlock("r")], is_error=True)]),
    ], thinking=Thinking(enabled=True, budget_tokens=3000), max_tokens=2000, temperature=0.5)
    notes: list[str] = []
    body = converse.encode(req, "us.anthropic.claude-sonnet-4-v1:0", notes)
    assert body["messages"][0] == {"role": "user", "content": [{"text": "a"}, {"text": "b"}]}
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "signed", "signature": "s1"}}},
        {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"x": 1}}}]
    assert body["messages"][2]["content"] == [{"toolResult": {"toolUseId": "t1", "content": [{"text": "r"}],
                                                              "status": "error"}}]
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 3000}}
    assert body["inferenceConfig"] == {"maxTokens": 5000}  # room above the budget; no temperature
    assert "consecutive messages of one role joined" in notes and "temperature dropped: thinking" in notes
    # A tool result and the user's next words: one turn, nothing the client needs to be told.
    quiet: list[str] = []
    converse.encode(ChatRequest(model="m", messages=[
        Message("user", [TextBlock("a")]), Message("assistant", [ToolCallBlock("t1", "f", "{}")]),
        Message("tool", [ToolResultBlock("t1", [TextBlock("r")])]), Message("user", [TextBlock("b")])]), "m", quiet)
    assert quiet == []
    # Not a Claude model: no Claude thinking field.
    assert "additionalModelRequestFields" not in converse.encode(req, "meta.llama3-70b", [])


def test_system_folds_into_the_first_turn_where_the_model_takes_none() -> None:
    req = ChatRequest(model="m", messages=[Message("system", [TextBlock("be terse")]),
                                           Message("user", [TextBlock("hi")])])
    notes: list[str] = []
    body = converse.encode(req, "mistral.mixtral-8x7b-instruct-v0:1", notes)
    assert "system" not in body and body["messages"][0]["content"] == [{"text": "be terse"}, {"text": "hi"}]
    assert notes == ["system prompt sent as user text"]
    assert converse.encode(req, "mistral.mistral-large-2407-v1:0", [])["system"] == [{"text": "be terse"}]


def test_error_header_and_body() -> None:
    resp = UpstreamResponse(429, {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/",
                                  "retry-after": "3"}, b'{"message":"Too many requests"}')
    err = errors.map_error(resp)
    assert (err.status, err.code, err.message, err.retryable, err.retry_after) == \
        (429, "ThrottlingException", "bedrock: Too many requests", True, 3.0)
    err = errors.map_error(UpstreamResponse(400, {"x-amzn-errortype": "ValidationException"},
                                            b'{"Message":"Malformed input request"}'))
    assert (err.status, err.code, err.retryable) == (400, "ValidationException", False)


def test_region_and_path() -> None:
    assert vocab.region_of("https://bedrock-runtime.eu-central-1.amazonaws.com") == "eu-central-1"
    assert vocab.region_of("http://127.0.0.1:9000") is None
    assert vocab.path("arn:aws:bedrock:us-east-1:1:inference-profile/us.meta.llama3", "converse") == \
        "/model/arn:aws:bedrock:us-east-1:1:inference-profile%2Fus.meta.llama3/converse"
