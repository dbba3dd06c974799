"""A read's run of stream events joined into one event, before any JSON is decoded.

Vendors stream text as one event per token, and under load one upstream read holds dozens of
them; decoding each is most of what translating a stream costs. Within a run, consecutive
events are byte for byte the same but for the token's JSON string: event k ends with
`TAIL` and event k+1 starts with `HEAD`, where `HEAD` runs up to the string's opening quote
and `TAIL` from its closing quote to the end of the line. Cutting each separator `TAIL`,
blank line, `HEAD` out leaves one event whose string is the run's strings joined (string
bodies split between whole escapes join exactly), and it decodes with one call.

What is cut is checked first, by C-level scans of the few text bytes: the event before each
separator must itself begin with `HEAD`, the one after the last must end with `TAIL` (an odd
first or last event keeps its separator), and the joined body must be one well-formed JSON
string. Any doubt leaves the read as it came, for
the event-by-event path. Parsers keep the separator per stream (`FieldRuns`, or a fixed one
for a format whose events always look the same, like Anthropic's).
"""

from __future__ import annotations

import re
from operator import itemgetter

# A read at least this many separators long takes `_join_large`: below it one `rsplit` is
# cheaper than that path's set-up (measured on OpenAI-style chunks: even at ~16 events).
LARGE_READ = 20
# A JSON string's body: no bare quote or newline, every backslash starts a whole escape.
_STRING_BODY = re.compile(rb'[^"\\\n]*(?:\\.[^"\\\n]*)*')
# How much of `TAIL` `_bodies` searches for with the blank line: CPython's search from the
# right is fastest for a needle of about this length (measured: 5-6 us on a 100-event read,
# against 15-30 us for the whole of a 40-150 byte `TAIL`).
_END_NEEDLE = 12


def join_runs(data: bytes, head: bytes, sep: bytes) -> bytes:
    """`data` (whole SSE events, LF line ends) with the run of events that `sep` separates
    joined into one; `data` itself when there is nothing to join or anything looks unusual.

    :param head: the start of a run event's data line, up to its string's opening quote.
    :param sep: the bytes between two run events' strings: the closing quote and the rest
        of the line, a blank line, any lines before the data line (`event: ...`), `head`.
    """
    if len(data) >= LARGE_READ * len(sep):
        return _join_large(data, head, sep)
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


def _join_large(data: bytes, head: bytes, sep: bytes) -> bytes:
    """`join_runs` for a large read (a backlog of dozens of events): the same cuts, found
    without searching for `sep` at every event. The run's first and last separators are
    found directly; the strings between them come from `_bodies`.
    """
    size = len(sep)
    first = data.find(sep)
    if first < 0:
        return data
    last = data.rfind(sep)
    blank = sep.find(b"\n\n")
    tail = sep[:blank]
    start = _head_before(data, first, head)
    if start < 0 and first < last:
        # The event before the first separator is not one of the run (a block start sent
        # without the usual ping after it, say): keep that separator, join from the next one.
        first = data.find(sep, first + size)
        start = _head_before(data, first, head)
    if start < 0:
        return data
    end = _tail_after(data, last + size, tail)
    if end < 0 and first < last:
        # Nor is the event after the last separator (it carries the finish reason, say):
        # keep that separator too.
        last = data.rfind(sep, first, last)
        end = _tail_after(data, last + size, tail)
    if end < 0:
        return data
    pieces = _bodies(data, first + size, last, sep, blank) if first < last else []
    if pieces is None:
        return data  # another event inside the run
    middle = b"".join(pieces)
    if b"\n" in middle:
        # A line break inside the run (the string check below would refuse it too; this is
        # the cheap way to find out).
        return data
    lead = data[start + len(head):first]
    if (b"\\" in middle or lead.endswith(b"\\")) and not _whole_escapes(lead, pieces):
        return data
    body = lead + middle + data[last + size:end]
    # Without a quote the body cannot end its string early; an invalid escape fails the JSON
    # decode that follows, as it would have one event at a time.
    if b'"' in body and _STRING_BODY.fullmatch(body) is None:
        return data
    return data[:first] + middle + data[last + size:]


def _run_head_at(part: bytes, head: bytes) -> int:
    """Where the last line of `part` starts when it starts with `head`, else -1."""
    start = part.rfind(b"\n") + 1
    return start if part.startswith(head, start) else -1


def _run_tail_at(part: bytes, tail: bytes) -> int:
    """Where `tail` starts when the first line of `part` ends with it, else -1."""
    end = part.find(b"\n")
    return end - len(tail) if end >= len(tail) and part[end - len(tail):end] == tail else -1


def _bodies(data: bytes, start: int, stop: int, sep: bytes, blank: int) -> list[bytes] | None:
    """The strings of `data[start:stop]` (a run between its first and last separators, which
    `data` holds around it) when it is only strings and separators, else None.

    Searching for all of `sep` costs per match (CPython sets a needle this long up again at
    every occurrence), and a blank line alone is a 2-byte needle scanned byte by byte. The
    last few bytes of `TAIL` with the blank line are a needle CPython finds quickly from the
    right, and it cuts the run at every event end (a blank line only ends events). So: cut
    there, take each string from between the known `HEAD` and the rest of `TAIL`, and check
    that the strings joined by `sep` give the run back, byte for byte (one compare: a piece
    that is not `HEAD`, string, `TAIL` fails it).
    """
    cut = max(0, blank - _END_NEEDLE)
    pre, rest = sep[blank + 2:], sep[:cut]
    # The separators around the run end with `pre` and start with `rest`: one slice holds
    # `pre`, the run and `rest`, so that every piece has both.
    pieces = data[start - len(pre):stop + len(rest)].rsplit(sep[cut:blank + 2])
    bodies = list(map(itemgetter(slice(len(pre), -len(rest) if rest else None)), pieces))
    run = sep.join(bodies)
    return bodies if len(run) == stop - start and data.startswith(run, start) else None


def _head_before(data: bytes, at: int, head: bytes) -> int:
    """Where the line that `at` ends starts when it starts with `head`, else -1."""
    start = data.rfind(b"\n", 0, at) + 1
    return start if data.startswith(head, start, at) else -1


def _tail_after(data: bytes, at: int, tail: bytes) -> int:
    """Where `tail` starts when the line from `at` ends with it, else -1."""
    end = data.find(b"\n", at)
    size = len(tail)
    return end - size if end - size >= at and data.startswith(tail, end - size, end) else -1


def _whole_escapes(lead: bytes, pieces: list[bytes]) -> bool:
    """No body before a separator ends inside an escape: a final backslash must be the second
    half of `\\\\`, or it escaped the closing quote and the vendor's JSON was broken."""
    if b"\\\n" not in b"\n".join(pieces) + b"\n" and not lead.endswith(b"\\"):
        return True  # the usual case, backslashes only inside bodies (`\\n` escapes and such)
    return all((len(p) - len(p.rstrip(b"\\"))) % 2 == 0 for p in (lead, *pieces) if p.endswith(b"\\"))


class FieldRuns:
    """Per stream: joins runs of `data:` events that differ only in the string of `field`,
    learning the run's shape from one of the read's last events that have one (OpenAI-style
    chunks repeat id, model and the rest in every event, so the shape holds for the stream)."""

    __slots__ = ("_key", "_head", "_tail", "_sep")

    def __init__(self, field: str) -> None:
        self._key = b'"' + field.encode() + b'":"'
        self._head = self._tail = self._sep = b""

    def merge(self, data: bytes) -> bytes:
        at = data.rfind(self._key)
        if at < 0:
            return data
        # Learn from the last but one: the last may carry the finish reason (some vendors put
        # it on their last token), which makes it unlike the rest of the run.
        before = data.rfind(self._key, 0, at)
        if before >= 0:
            at = before
        start = data.rfind(b"\n", 0, at) + 1
        opened = at + len(self._key)
        closed = _STRING_BODY.match(data, opened).end()  # type: ignore[union-attr]  # always matches
        end = data.find(b"\n", closed)
        if data[closed:closed + 1] != b'"' or end < 0 or not data.startswith(b"data:", start):
            return data
        head, tail = data[start:opened], data[closed:end]
        if head != self._head or tail != self._tail:
            self._head, self._tail = head, tail
            self._sep = tail + b"\n\n" + head
        return join_runs(data, head, self._sep)
