"""The estimate a stream cut short is charged (relayport.interrupted): the generated text found
in a sample of the vendor's bytes, in each vendor framing, scaled to what was read; the input
estimated from the request as the client sent it, in each surface's format."""

from __future__ import annotations

import orjson

from relayport.interrupted import estimate, generated, output_tokens
from relayport.model.usage import Usage
from relayport.token_estimate import PER_IMAGE, body_input_tokens


def openai_chunk(delta: dict[str, object]) -> bytes:
    obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def test_openai_chat_deltas_count_text_reasoning_and_tool_arguments_not_roles() -> None:
    sample = (openai_chunk({"role": "assistant", "content": ""}) + openai_chunk({"content": "Hello"})
              + openai_chunk({"reasoning_content": "hmm"})
              + openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]}))
    assert generated(sample) == (5 + 3 + 17, 3)


def test_anthropic_deltas() -> None:
    sample = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
              b'"delta":{"type":"text_delta","text":"Hi there"}}\n\n'
              b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
              b'"delta":{"type":"thinking_delta","thinking":"so"}}\n\n'
              b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
              b'"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}\n\n'
              b'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,'
              b'"delta":{"type":"input_json_delta","partial_json":"{\\"city\\": \\"Pa"}}\n\n')
    # The signature is not text; the escaped JSON counts as the characters it decodes to.
    assert generated(sample) == (8 + 2 + len('{"city": "Pa'), 3)


def test_responses_gemini_and_aws_framings() -> None:
    responses = (b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                 b'"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Bonjour"}\n\n')
    gemini = b'data: {"candidates": [{"content": {"parts": [{"text": "Hallo"}],"role": "model"},"index": 0}]}\r\n\r\n'
    # An AWS event-stream frame of Bedrock's Converse stream: binary prelude and CRCs around JSON.
    bedrock = (b"\x00\x00\x00\x9b\x00\x00\x00W\xc1\x0b\x0b\x0e\x0b:event-type\x07\x00\x11contentBlockDelta"
               b'{"contentBlockIndex":0,"delta":{"text":"Hola"},"p":"abcdefghij"}\x9a\x1f\x02\x7f')
    assert generated(responses) == (7, 1)
    assert generated(gemini) == (5, 1)
    assert generated(bedrock) == (4, 1)


def test_escapes_count_as_the_characters_they_stand_for() -> None:
    assert generated(openai_chunk({"content": "中文\n"})) == (3, 1)  # orjson writes them raw
    assert generated(b'data: {"choices":[{"delta":{"content":"\\u4e2d\\u6587\\n"}}]}\n\n') == (3, 1)


def test_the_sample_is_scaled_to_what_was_read() -> None:
    words = b"".join(openai_chunk({"content": f" w{i}"}) for i in range(3))
    assert output_tokens(len(words) * 10, words) == 30  # a token a piece: 30 pieces
    long = openai_chunk({"content": "x" * 40})  # 10 tokens of 4 characters each
    assert output_tokens(len(long) * 3, long) == 30
    cjk = openai_chunk({"content": "中文"})  # fewer than 4 characters: a piece is a token
    assert output_tokens(len(cjk) * 7, cjk) == 7
    assert output_tokens(0, words) == 0 and output_tokens(100, b"") == 0


def test_estimate_keeps_what_the_vendor_reported() -> None:
    sample = openai_chunk({"content": " w1"})
    asked: list[int] = []

    def prompt() -> int:
        asked.append(1)
        return 42

    assert estimate(None, prompt, len(sample) * 5, sample) == Usage(input_tokens=42, output_tokens=5)
    # Anthropic says the input at the stream's start (with output_tokens 1): kept, not estimated.
    started = Usage(input_tokens=900, output_tokens=1, cached_tokens=800)
    assert estimate(started, prompt, len(sample) * 5, sample) == Usage(input_tokens=900, output_tokens=5,
                                                                       cached_tokens=800)
    assert asked == [1]
    # Nothing generated: the usage stays as reported (none: nothing to charge).
    assert estimate(None, prompt, 0, b"") is None
    assert estimate(started, prompt, 0, b"") is started


def test_request_bodies_of_every_surface() -> None:
    image = "data:image/png;base64," + "A" * 5000  # never counted as characters
    chat = {"model": "gpt-4o-mini", "stream": True, "temperature": 0.2,
            "messages": [{"role": "system", "content": "abcd" * 10},
                         {"role": "user", "content": [{"type": "text", "text": "x" * 8},
                                                      {"type": "image_url", "image_url": {"url": image}}]}]}
    assert body_input_tokens(chat) == 48 // 4 + PER_IMAGE + 2 * 4
    anthropic = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "abcd",
                 "messages": [{"role": "user", "content": [
                     {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 900}},
                     {"type": "text", "text": "abcdabcd", "cache_control": {"type": "ephemeral"}}]}]}
    assert body_input_tokens(anthropic) == 12 // 4 + PER_IMAGE + 4
    gemini = {"contents": [{"role": "user", "parts": [{"text": "abcdabcd"},
                                                      {"inlineData": {"mimeType": "image/png", "data": "A" * 900}}]}],
              "systemInstruction": {"parts": [{"text": "abcd"}]}}
    assert body_input_tokens(gemini) == 12 // 4 + PER_IMAGE + 4
    responses = {"model": "gpt-4o-mini", "instructions": "abcd", "input": "abcdabcda"}
    assert body_input_tokens(responses) == 4  # 13 characters, rounded up
    tools = {"model": "m", "messages": [],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                         "parameters": {"type": "object",
                                                                        "properties": {"city": {"type": "string"}}}}}]}
    assert body_input_tokens(tools) == 18 // 4 + 1
