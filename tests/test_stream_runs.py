"""Joining runs of OpenAI-style chunks before decoding (`wire/runs.py`) must never change the
canonical events, whatever the chunks look like and however the stream is split."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relayport.model.stream import ReasoningDelta, TextDelta
from relayport.openai_compat import OpenAICompat, OpenAIStreamParser
from relayport.testing.streams import event_by_event, whole_reads
from relayport.wire.runs import FieldRuns
from relayport.wire.sse import payloads

TEXTS = ["Hello", " wor", "ld", "", '"quoted"', "back\\slash", "ends in a backslash \\", "\\", "\\\\",
         "new\nline", "ünïcödé ✓", " 🎉", '"},"logprobs":null,"finish_reason":null}]}\n\ndata: {', "\u0001", "x"]


def chunk(delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None,
          index: int = 0) -> bytes:
    obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}], **(extra or {})}
    return b"data: " + orjson.dumps(obj) + b"\n\n"


ROLE = chunk({"role": "assistant", "content": ""})
END = (chunk({}, "stop") + b"data: " + orjson.dumps({"id": "chatcmpl-1", "choices": [], "usage": {
    "prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}}) + b"\n\ndata: [DONE]\n\n")


def texts(field: str = "content", other: dict[str, Any] | None = None) -> bytes:
    return b"".join(chunk({**(other or {}), field: t}) for t in TEXTS)


STREAMS = {
    "plain": ROLE + texts() + END,
    "reasoning-then-content": (ROLE + texts("reasoning_content", {"content": None}) + texts() + END),
    "tool-call-between": (ROLE + chunk({"content": "a"}) + chunk({"content": "b"})
                          + chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                                   "function": {"name": "f", "arguments": '{"content":"'}}]})
                          + chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'x"}'}}]})
                          + chunk({"content": "c"}) + chunk({"content": "d"}) + END),
    # A field that changes in every chunk (OpenAI's `obfuscation` padding): nothing to join.
    "varying-field": ROLE + b"".join(chunk({"content": t}, extra={"obfuscation": "p" * i})
                                     for i, t in enumerate(TEXTS)) + END,
    "two-choices": ROLE + b"".join(chunk({"content": t}, index=i % 2) for i, t in enumerate(TEXTS)) + END,
    "finish-in-the-last-content-chunk": ROLE + texts() + chunk({"content": "."}, "stop") + b"data: [DONE]\n\n",
    "error-mid-run": (ROLE + chunk({"content": "a"}) + chunk({"content": "b"})
                      + b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'),
    # `"usage":null` on every chunk, as OpenAI sends with include_usage.
    "usage-null": ROLE + b"".join(chunk({"content": t}, extra={"usage": None}) for t in TEXTS) + END,
    # Spaces after the separators (some vendors' JSON): not joined, still right.
    "spaced": (ROLE + texts()).replace(b'":', b'": ').replace(b'",', b'", ') + END,
}


def one_by_one(pieces: list[bytes]) -> list[Any]:
    return event_by_event(OpenAIStreamParser(OpenAICompat()), pieces)


def fast(pieces: list[bytes]) -> list[Any]:
    return whole_reads(OpenAIStreamParser(OpenAICompat()), pieces)


@pytest.mark.parametrize("name", STREAMS)
def test_fast_path_matches_event_by_event_at_every_split(name: str) -> None:
    raw = STREAMS[name]
    expected = one_by_one([raw])
    assert fast([raw]) == expected
    for cut in range(0, len(raw) + 1, 7):
        assert fast([raw[:cut], raw[cut:]]) == expected, cut


def test_texts_survive_exactly() -> None:
    events = fast([STREAMS["reasoning-then-content"]])
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "".join(TEXTS)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(TEXTS)


@pytest.mark.parametrize("name, field, most", [
    ("plain", "content", 10), ("usage-null", "content", 10), ("finish-in-the-last-content-chunk", "content", 5),
    ("reasoning-then-content", "reasoning_content", 25),
])
def test_runs_are_joined(name: str, field: str, most: int) -> None:
    # Shows the fast path is taken, so the equality tests compare two different code paths.
    data = STREAMS[name]
    assert len(payloads(data)) > most + 5
    assert len(payloads(FieldRuns(field).merge(data))) <= most


def test_changing_fields_and_other_choices_are_never_joined() -> None:
    for name in ("varying-field", "two-choices"):
        assert FieldRuns("content").merge(STREAMS[name]) == STREAMS[name]
