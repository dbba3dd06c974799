"""Payloads shared by the mock upstream, the load driver and the response checks.

Everything here is deterministic so that the harness can check that what a
target returned is what the mock sent (possibly translated), not just that the
status was 200: a gateway that answers fast with garbage must not score well.
"""

from __future__ import annotations

from typing import Any

import orjson

CREATED = 1_700_000_000
PROMPT_TOKENS = 42
SYSTEM_FINGERPRINT = "fp_bench0001"

# Short, token-sized pieces like a real model emits; cycled to any length.
_SENTENCE = (
    "The quick brown fox jumps over the lazy dog while the benchmark "
    "measures how much time the gateway adds to every streamed token"
)
_WORDS = _SENTENCE.split()


def tokens(n: int) -> list[str]:
    """n content pieces; the first has no leading space, like real output."""
    out = []
    for i in range(n):
        word = _WORDS[i % len(_WORDS)]
        out.append(word if i == 0 else " " + word)
    return out


def text(n: int) -> str:
    return "".join(tokens(n))


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


# --------------------------------------------------------------------------
# OpenAI chat completions
# --------------------------------------------------------------------------


def openai_completion(model: str, n_tokens: int) -> bytes:
    """A realistic non-streaming chat.completion object."""
    return _dumps(
        {
            "id": "chatcmpl-bench0000000000000000000001",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text(n_tokens),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": n_tokens,
                "total_tokens": PROMPT_TOKENS + n_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
    )


def openai_stream_text(n_events: int) -> str:
    """Content carried by an OpenAI stream of n_events chunks.

    The first chunk only carries the role and the last only the finish_reason,
    as OpenAI does, so n_events - 2 chunks carry text.
    """
    return text(max(n_events - 2, 0))


def openai_stream(model: str, n_events: int, include_usage: bool) -> list[bytes]:
    """SSE events (each a complete `data: ...\\n\\n`) of an OpenAI chat stream."""
    base: dict[str, Any] = {
        "id": "chatcmpl-bench0000000000000000000001",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if include_usage:
        # With include_usage OpenAI puts "usage": null on every chunk.
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        obj = dict(base)
        obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return b"data: " + _dumps(obj) + b"\n\n"

    n_text = max(n_events - 2, 0)
    events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [chunk({"content": t}, None) for t in tokens(n_text)]
    events.append(chunk({}, "stop"))
    if include_usage:
        obj = dict(base)
        obj["choices"] = []
        obj["usage"] = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": n_text,
            "total_tokens": PROMPT_TOKENS + n_text,
        }
        events.append(b"data: " + _dumps(obj) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


# --------------------------------------------------------------------------
# Anthropic Messages
# --------------------------------------------------------------------------


def anthropic_message(model: str, n_tokens: int) -> bytes:
    return _dumps(
        {
            "id": "msg_bench000000000000000001",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text(n_tokens)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": PROMPT_TOKENS,
                "output_tokens": n_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
    )


def _sse(name: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(obj) + b"\n\n"


def anthropic_stream(model: str, n_deltas: int, ping: bool = True) -> list[bytes]:
    """The real Anthropic event sequence, with n_deltas text deltas.

    The real API sends a `ping` after content_block_start; it is kept (unless
    ping=False) because a translating gateway must skip events it does not map.
    """
    events = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_bench000000000000000001",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": PROMPT_TOKENS,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        ),
        _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    if ping:
        events.append(_sse("ping", {"type": "ping"}))
    events += [
        _sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": t},
            },
        )
        for t in tokens(n_deltas)
    ]
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n_deltas},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


# --------------------------------------------------------------------------
# Client requests (OpenAI chat format, what wrk and the TTFB client send)
# --------------------------------------------------------------------------


def chat_request(model: str, stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {
                "role": "system",
                "content": "You are a concise assistant. Answer in one paragraph.",
            },
            {
                "role": "user",
                "content": "Explain in a few sentences what an API gateway does "
                "and why latency overhead matters for streaming responses.",
            },
        ],
        "max_tokens": 256,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return _dumps(body)


def responses_request(model: str, stream: bool, store: bool = False) -> bytes:
    """The chat request above as an OpenAI Responses body."""
    chat = orjson.loads(chat_request(model, stream))
    body: dict[str, Any] = {"model": model, "instructions": chat["messages"][0]["content"],
                            "input": chat["messages"][1]["content"], "max_output_tokens": chat["max_tokens"],
                            "temperature": chat["temperature"], "store": store}
    if stream:
        body["stream"] = True
    return _dumps(body)


# --------------------------------------------------------------------------
# Response checks: return None when fine, else a one-line reason.
# --------------------------------------------------------------------------


def _sse_data(body: bytes) -> list[bytes]:
    """`data:` payloads of an SSE body, ignoring event:/comment lines."""
    out = []
    for line in body.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"data:"):
            out.append(line[5:].strip())
    return out


def check_openai_json(body: bytes, expected: str) -> str | None:
    try:
        obj = orjson.loads(body)
        if obj.get("object") != "chat.completion":
            return f"object is {obj.get('object')!r}, want 'chat.completion'"
        choice = obj["choices"][0]
        if choice["message"]["content"] != expected:
            return "message content differs from what the upstream sent"
        if choice.get("finish_reason") != "stop":
            return f"finish_reason is {choice.get('finish_reason')!r}, want 'stop'"
        if "usage" not in obj:
            return "no usage"
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        return f"not a chat.completion: {exc!r}"
    return None


def check_openai_sse(body: bytes, expected: str) -> str | None:
    datas = _sse_data(body)
    if not datas or datas[-1] != b"[DONE]":
        return "stream does not end with data: [DONE]"
    content = []
    finish = None
    try:
        for d in datas[:-1]:
            obj = orjson.loads(d)
            if obj.get("object") != "chat.completion.chunk":
                return f"chunk object is {obj.get('object')!r}"
            for ch in obj.get("choices") or []:
                c = (ch.get("delta") or {}).get("content")
                if c:
                    content.append(c)
                finish = ch.get("finish_reason") or finish
    except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
        return f"bad chunk: {exc!r}"
    if "".join(content) != expected:
        return "streamed content differs from what the upstream sent"
    if finish != "stop":
        return f"finish_reason is {finish!r}, want 'stop'"
    return None


def check_responses_sse(body: bytes, expected: str) -> str | None:
    """A Responses event stream carrying `expected` as output text and ending completed."""
    try:
        events = [orjson.loads(d) for d in _sse_data(body)]
    except orjson.JSONDecodeError as exc:
        return f"bad event: {exc!r}"
    if not events or events[-1].get("type") != "response.completed":
        return "stream does not end with response.completed"
    text = "".join(e.get("delta", "") for e in events if e.get("type") == "response.output_text.delta")
    if text != expected:
        return "streamed output text differs from what the upstream sent"
    if [e.get("sequence_number") for e in events] != list(range(len(events))):
        return "sequence numbers are not 0, 1, 2, ..."
    return None


# --------------------------------------------------------------------------
# Gemini generateContent
# --------------------------------------------------------------------------

GEMINI_PATH = "/v1beta/models/{model}:{action}"


def _gemini_usage(n_tokens: int) -> dict[str, Any]:
    return {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": n_tokens,
            "totalTokenCount": PROMPT_TOKENS + n_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}]}


def gemini_response(model: str, n_tokens: int) -> bytes:
    return _dumps({"candidates": [{"content": {"parts": [{"text": text(n_tokens)}], "role": "model"},
                                   "finishReason": "STOP", "index": 0}],
                   "usageMetadata": _gemini_usage(n_tokens), "modelVersion": model,
                   "responseId": "benchResp0001"})


def gemini_stream(model: str, n_chunks: int) -> list[bytes]:
    """`streamGenerateContent?alt=sse` as the API sends it: one whole response per event with
    only the new text (and prompt usage so far), CRLF framing, the finish reason and full
    usage on the last; no end sentinel."""
    early = {"promptTokenCount": PROMPT_TOKENS, "totalTokenCount": PROMPT_TOKENS}
    events = []
    pieces = tokens(n_chunks)
    for i, piece in enumerate(pieces):
        cand: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        usage = early
        if i == len(pieces) - 1:
            cand["finishReason"] = "STOP"
            usage = _gemini_usage(n_chunks)
        events.append(b"data: " + _dumps({"candidates": [cand], "usageMetadata": usage, "modelVersion": model,
                                          "responseId": "benchResp0001"}) + b"\r\n\r\n")
    return events


def check_gemini_json(body: bytes, expected: str) -> str | None:
    try:
        obj = orjson.loads(body)
        if obj["candidates"][0]["content"]["parts"][0]["text"] != expected:
            return "content differs"
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        return f"not a Gemini response: {exc!r}"
    return None


def check_gemini_sse(body: bytes, expected: str) -> str | None:
    try:
        parts = []
        finish = None
        for d in _sse_data(body.replace(b"\r\n", b"\n")):
            cand = orjson.loads(d)["candidates"][0]
            parts += [p.get("text", "") for p in cand["content"]["parts"]]
            finish = cand.get("finishReason") or finish
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        return f"bad event: {exc!r}"
    if finish != "STOP":
        return "stream does not end with finishReason STOP"
    if "".join(parts) != expected:
        return "content differs"
    return None


def check_anthropic_json(body: bytes, expected: str) -> str | None:
    try:
        obj = orjson.loads(body)
        if obj.get("type") != "message":
            return f"type is {obj.get('type')!r}"
        if obj["content"][0]["text"] != expected:
            return "content differs"
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        return f"not a message: {exc!r}"
    return None


def check_anthropic_sse(body: bytes, expected: str) -> str | None:
    try:
        parts = []
        last = None
        for d in _sse_data(body):
            obj = orjson.loads(d)
            last = obj.get("type")
            if last == "content_block_delta":
                parts.append(obj["delta"]["text"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        return f"bad event: {exc!r}"
    if last != "message_stop":
        return "stream does not end with message_stop"
    if "".join(parts) != expected:
        return "content differs"
    return None
