"""The stream fast path (`feed_sse`, which joins runs of text deltas before decoding) must give
the same canonical events as decoding the stream one event at a time, however it is split."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relayport.model.errors import GatewayError
from relayport.model.stream import TextDelta
from relayport.testing.streams import event_by_event, whole_reads
from relayport.wire.sse import payloads
from relayport_anthropic.stream import AnthropicStreamParser
from relayport_anthropic.testing import sse
from relayport_anthropic.textrun import TextRuns

# Text that stresses the join: escapes, quotes, backslashes (one at the end of a delta, where
# it meets the separator), non-ASCII, and text that looks like the separator itself.
TEXTS = [
    "Hello", " wor", "ld", "", '"quoted"', "back\\slash", "ends in a backslash \\", "\\", "\\\\",
    "new\nline", "tab\t", "ünïcödé ✓", " 🎉", '"}}\n\nevent: content_block_delta\n', "\u0001", "x",
]


def start(**usage: int) -> bytes:
    return sse("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1, **usage}}})


def block_start(index: int, block: dict[str, Any]) -> bytes:
    return sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def delta(index: int, d: dict[str, Any]) -> bytes:
    return sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})


def text(index: int, t: str) -> bytes:
    return delta(index, {"type": "text_delta", "text": t})


def stop(index: int) -> bytes:
    return sse("content_block_stop", {"type": "content_block_stop", "index": index})


PING = sse("ping", {"type": "ping"})
END = (sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"output_tokens": 9}})
       + sse("message_stop", {"type": "message_stop"}))


def texts(index: int) -> bytes:
    return b"".join(text(index, t) for t in TEXTS)


STREAMS = {
    "plain": start() + block_start(0, {"type": "text", "text": ""}) + PING + texts(0) + stop(0) + END,
    # Compatible vendors: no ping after the block start, text already in it.
    "no-ping": start() + block_start(0, {"type": "text", "text": "Hi"}) + texts(0) + stop(0) + END,
    "thinking-then-text": (
        start() + block_start(0, {"type": "thinking", "thinking": ""})
        + delta(0, {"type": "thinking_delta", "thinking": "Let me see"})
        + delta(0, {"type": "thinking_delta", "thinking": "."})
        + delta(0, {"type": "signature_delta", "signature": "EqSig"}) + stop(0)
        + block_start(1, {"type": "text", "text": ""}) + texts(1) + stop(1) + END
    ),
    "ping-inside-a-run": (start() + block_start(0, {"type": "text", "text": ""}) + text(0, "a") + text(0, "b")
                          + PING + text(0, "c") + text(0, "d") + stop(0) + END),
    "text-tool-text": (
        start() + block_start(0, {"type": "text", "text": ""}) + texts(0) + stop(0)
        + block_start(1, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})
        + delta(1, {"type": "input_json_delta", "partial_json": '{"a": "}}'})
        + delta(1, {"type": "input_json_delta", "partial_json": '"}'}) + stop(1)
        + block_start(2, {"type": "text", "text": ""}) + text(2, "after") + text(2, " the call") + stop(2) + END
    ),
    # A sloppy vendor: a thinking delta and text deltas under one block index, no stop/start
    # between. The text must not be glued onto the thinking.
    "mixed-index": (start() + delta(0, {"type": "thinking_delta", "thinking": "hm"}) + text(0, "a")
                    + text(0, "b") + END),
    # Thinking between two text runs of the same index: each run joined, never across it.
    "run-thinking-run": (start() + text(0, "a") + text(0, "b") + delta(0, {"type": "thinking_delta", "thinking": "hm"})
                         + text(0, "c") + text(0, "d") + END),
    # A delta with a field after its text (some vendor's addition): still valid JSON, the text
    # is only "b"; joining the raw bodies would swallow the next delta's text into "x".
    "field-after-text": (start() + PING + text(0, "a")
                         + b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                           b'"delta":{"type":"text_delta","text":"b","x":"y"}}\n\n'
                         + text(0, "c") + text(0, "d") + END),
    "index-ten": start() + block_start(10, {"type": "text", "text": ""}) + PING + text(10, "x") + text(10, "y")
                 + text(10, "z") + stop(10) + END,
    "error-mid-run": (start() + block_start(0, {"type": "text", "text": ""}) + PING + text(0, "a") + text(0, "b")
                      + sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
}
# Without `event:` lines (some compatible endpoints send data lines only): the slow path's job.
STREAMS["no-event-lines"] = b"".join(
    line + b"\n" for line in STREAMS["plain"].split(b"\n") if not line.startswith(b"event:")
).replace(b"\n\n\n", b"\n\n")


def one_by_one(pieces: list[bytes]) -> list[Any]:
    return event_by_event(AnthropicStreamParser(), pieces)


def fast(pieces: list[bytes]) -> list[Any]:
    return whole_reads(AnthropicStreamParser(), pieces)


@pytest.mark.parametrize("name", STREAMS)
def test_fast_path_matches_event_by_event_at_every_split(name: str) -> None:
    raw = STREAMS[name]
    expected = one_by_one([raw])
    assert expected == one_by_one([raw[i:i + 1] for i in range(len(raw))])
    assert fast([raw]) == expected
    for cut in range(len(raw) + 1):
        assert fast([raw[:cut], raw[cut:]]) == expected, cut


def test_the_texts_survive_exactly() -> None:
    joined = "".join(ev.text for ev in fast([STREAMS["plain"]]) if isinstance(ev, TextDelta))
    assert joined == "".join(TEXTS)
    assert "".join(ev.text for ev in fast([STREAMS["mixed-index"]]) if isinstance(ev, TextDelta)) == "ab"


def merged_count(data: bytes) -> tuple[int, int]:
    return len(payloads(data)), len(payloads(TextRuns().merge(data)))


def test_a_run_becomes_one_event() -> None:
    # Not a test of speed: it shows the fast path is taken, so the equality tests above
    # compare two different code paths rather than one with itself.
    run = b"".join(text(0, t) for t in ["a", "b", "c", "d"])
    assert merged_count(PING + run) == (5, 2)
    assert merged_count(block_start(0, {"type": "text", "text": ""}) + run + stop(0)) == (6, 3)
    plain = STREAMS["plain"]
    before, after = merged_count(plain)
    assert after < before - 10


@pytest.mark.parametrize("data", [
    STREAMS["mixed-index"],                                 # thinking before text, same index
    PING + text(0, "x \\") + text(0, "y"),                  # a body ending in an escaped backslash
    PING + text(0, "a") + PING + text(0, "b"),              # another event between the deltas
    text(0, "a") + b"id: 7\n" + text(0, "b"),               # an SSE field the separator does not cover
], ids=["mixed-index", "escaped-backslash", "ping-between", "id-field"])
def test_unusual_reads_are_left_whole_or_joined_only_where_safe(data: bytes) -> None:
    merged = TextRuns().merge(data)
    # Whatever was (or was not) joined, every event still decodes, and the text is the same.
    def text_of(d: bytes) -> str:
        objs = [orjson.loads(p) for p in payloads(d) if p]
        return "".join(o["delta"].get("text", "") for o in objs if o.get("type") == "content_block_delta")
    assert text_of(merged) == text_of(data)
    assert [o["delta"]["type"] for o in map(orjson.loads, payloads(merged))
            if o.get("type") == "content_block_delta"][:1] == \
           [o["delta"]["type"] for o in map(orjson.loads, payloads(data))
            if o.get("type") == "content_block_delta"][:1]


def test_broken_json_in_a_run_is_still_an_error() -> None:
    # `"text":"a\"}}` never closes its string: the vendor sent broken JSON. Joining must not
    # turn it into valid-looking text.
    broken = PING + b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,' \
        b'"delta":{"type":"text_delta","text":"a\\"}}\n\n' + text(0, "b")
    with pytest.raises(GatewayError):
        AnthropicStreamParser().feed_sse(broken)
