"""`join_runs` finds a run's separators without searching for the long separator at every
occurrence; it must cut exactly what a plain `rsplit(sep)` of the read cuts, and keep every read
it left whole before. The oracle below is that plain version (the implementation until
2026-11-30, still the one for short reads), run against many random reads built from the
pieces real streams are made of, with every read sent down each path."""

from __future__ import annotations

import random
import re

import pytest

from relayport.wire import runs
from relayport.wire.runs import FieldRuns, join_runs
from relayport.wire.sse import payloads

_STRING_BODY = re.compile(rb'[^"\\\n]*(?:\\.[^"\\\n]*)*')


def oracle(data: bytes, head: bytes, sep: bytes) -> bytes:
    """`data` (whole SSE events, LF line ends) with the run of events that `sep` separates
    joined into one; `data` itself when there is nothing to join or anything looks unusual.

    :param head: the start of a run event's data line, up to its string's opening quote.
    :param sep: the bytes between two run events' strings: the closing quote and the rest
        of the line, a blank line, any lines before the data line (`event: ...`), `head`.
    """
    tail = sep[:sep.find(b"\n\n")]
    # rsplit, not split: for a needle this long CPython's forward search switches to the
    # two-way algorithm, whose set-up it then repeats at every occurrence (twice the cost).
    parts = data.rsplit(sep)
    if len(parts) < 2:
        return data
    start = _run_head_at(parts[0], head)
    if start < 0 and len(parts) > 2:
        # The event before the first separator is not one of the run (a block start sent
        # without the usual ping after it, say): keep that separator, join from the next one.
        parts[0:2] = [parts[0] + sep + parts[1]]
        start = _run_head_at(parts[0], head)
    if start < 0:
        return data
    end = _run_tail_at(parts[-1], tail)
    if end < 0 and len(parts) > 2:
        # Nor is the event after the last separator (it carries the finish reason, say):
        # keep that separator too.
        parts[-2:] = [parts[-2] + sep + parts[-1]]
        end = _run_tail_at(parts[-1], tail)
    if end < 0:
        return data
    first, last = parts[0], parts[-1]
    pieces = parts[1:-1]
    middle = b"".join(pieces)
    if b"\n" in middle:
        # Another event inside the run: leave the read whole (the string check below would
        # refuse it too; this is the cheap way to find out).
        return data
    lead = first[start + len(head):]
    if (b"\\" in middle or lead.endswith(b"\\")) and not _whole_escapes(lead, pieces):
        return data
    body = lead + middle + last[:end]
    # Without a quote the body cannot end its string early; an invalid escape fails the JSON
    # decode that follows, as it would have one event at a time.
    if b'"' in body and _STRING_BODY.fullmatch(body) is None:
        return data
    return first + middle + last


def _run_head_at(part: bytes, head: bytes) -> int:
    """Where the last line of `part` starts when it starts with `head`, else -1."""
    start = part.rfind(b"\n") + 1
    return start if part.startswith(head, start) else -1


def _run_tail_at(part: bytes, tail: bytes) -> int:
    """Where `tail` starts when the first line of `part` ends with it, else -1."""
    end = part.find(b"\n")
    return end - len(tail) if end >= len(tail) and part[end - len(tail):end] == tail else -1


def _whole_escapes(lead: bytes, pieces: list[bytes]) -> bool:
    """No body before a separator ends inside an escape: a final backslash must be the second
    half of `\\\\`, or it escaped the closing quote and the vendor's JSON was broken."""
    if b"\\\n" not in b"\n".join(pieces) + b"\n" and not lead.endswith(b"\\"):
        return True  # the usual case, backslashes only inside bodies (`\\n` escapes and such)
    return all((len(p) - len(p.rstrip(b"\\"))) % 2 == 0 for p in (lead, *pieces) if p.endswith(b"\\"))



# (head, sep) of the two separator shapes in use: an OpenAI-style chunk (FieldRuns) and an
# Anthropic text delta with its `event:` line (relayport_anthropic.textrun).
OPENAI_HEAD = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"'
OPENAI_TAIL = b'"},"finish_reason":null}]}'
ANTHROPIC_HEAD = b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
ANTHROPIC_TAIL = b'"}}'
SHAPES = {
    "openai": (OPENAI_HEAD, OPENAI_TAIL, b""),
    "anthropic": (ANTHROPIC_HEAD, ANTHROPIC_TAIL, b"event: content_block_delta\n"),
}
BODIES = [b"Hello", b" wor", b"", b"\\\"quoted\\\"", b"back\\\\slash", b"ends \\", b"\\", b"\\\\", b"new\nline",
          b"\\u00fc", b"x", b'"', b"\\n", b"a\n\nb"]


def read(rng: random.Random, shape: str) -> bytes:
    head, tail, pre = SHAPES[shape]
    events = []
    for _ in range(rng.randrange(0, 12)):
        kind = rng.random()
        body = rng.choice(BODIES)
        if kind < 0.6:
            events.append(pre + head + body + tail)
        elif kind < 0.7:
            events.append(pre + head + body + b'"},"finish_reason":"stop"}]}')  # an odd last event
        elif kind < 0.8:
            events.append(b"event: ping\ndata: {\"type\":\"ping\"}")
        elif kind < 0.9:
            events.append(b'data: {"role":"assistant","content":""}')
        else:
            events.append(head + body + tail)  # without the `event:` line (Anthropic) or as is
    return b"".join(e + b"\n\n" for e in events)


@pytest.mark.parametrize("large_read", [0, 10**9], ids=["large-read-path", "rsplit-path"])
@pytest.mark.parametrize("shape", SHAPES)
def test_cuts_what_rsplit_cuts(shape: str, large_read: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "LARGE_READ", large_read)  # every read down one path
    head, tail, pre = SHAPES[shape]
    sep = tail + b"\n\n" + pre + head
    rng = random.Random(20261130)
    joined = 0
    for _ in range(4000):
        data = read(rng, shape)
        got = join_runs(data, head, sep)
        assert got == oracle(data, head, sep), data
        joined += got != data
    assert joined > 500  # the runs were really joined, not only left alone


def test_a_long_run_joins_into_one_event() -> None:
    data = b"".join(OPENAI_HEAD + b"tok%d" % i + OPENAI_TAIL + b"\n\n" for i in range(100))
    merged = FieldRuns("content").merge(data)
    assert payloads(merged) == [OPENAI_HEAD[6:] + b"".join(b"tok%d" % i for i in range(100)) + OPENAI_TAIL]
