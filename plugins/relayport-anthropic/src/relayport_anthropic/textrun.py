"""One read's run of text deltas joined into one event, before any JSON is decoded.

Under load one upstream read holds dozens of text deltas, and decoding them one by one is most
of what translating a stream costs. Between two text deltas of block N, Anthropic's bytes are
always the same: the end of one event and the head of the next,

    "}}  blank line  event: content_block_delta
    data: {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"

Cutting those separators out leaves one text delta whose string is the run's strings joined
(a JSON string body split between escapes, so joining the raw bodies is exact), and it decodes
with one call. What is cut is checked first, by C-level scans of the few text bytes: the
event before each separator must itself be a text delta of block N, and the joined string
body must be one well-formed JSON string. Any doubt leaves the read as it came, for the
event-by-event path.
"""

from __future__ import annotations

import re

_TEXT_AT = b',"delta":{"type":"text_delta","text":"'
_INDEX = b'"index":'
# A JSON string's body: no bare quote or newline, every backslash starts a whole escape.
_STRING_BODY = re.compile(rb'[^"\\\n]*(?:\\.[^"\\\n]*)*')


class TextRuns:
    """Per stream: remembers the separator of the text block being streamed."""

    __slots__ = ("_index", "_head", "_sep")

    def __init__(self) -> None:
        self._index = b""
        self._head = b""
        self._sep = b""

    def _use(self, index: bytes) -> None:
        self._index = index
        self._head = b'data: {"type":"content_block_delta","index":' + index + _TEXT_AT
        self._sep = b'"}}\n\nevent: content_block_delta\n' + self._head

    def merge(self, data: bytes) -> bytes:
        """`data` (whole SSE events, LF line ends) with each run of text deltas of one block
        as one event; `data` itself when there is nothing to join or anything looks unusual."""
        at = data.find(_TEXT_AT)
        if at < 0:
            return data
        i = data.rfind(_INDEX, 0, at)
        if i < 0:
            return data
        index = data[i + len(_INDEX):at]
        if not index.isdigit():
            return data
        if index != self._index:
            self._use(index)
        sep, head = self._sep, self._head
        # rsplit, not split: for a needle this long CPython's forward search switches to the
        # two-way algorithm, whose set-up it then repeats at every occurrence (twice the cost).
        parts = data.rsplit(sep)
        if len(parts) < 2:
            return data
        start = parts[0].rfind(b"\n") + 1
        if not parts[0].startswith(head, start):
            # The event before the first separator is not a text delta (a block start sent
            # without the usual ping after it): keep that separator, join from the next one.
            if len(parts) < 3:
                return data
            parts[0:2] = [parts[0] + sep + parts[1]]
            start = parts[0].rfind(b"\n") + 1
            if not parts[0].startswith(head, start):
                return data
        first, last = parts[0], parts[-1]
        end = last.find(b"\n")
        if end < 3 or last[end - 3:end] != b'"}}':
            return data
        pieces = parts[1:-1]
        middle = b"".join(pieces)
        if b"\n" in middle:
            # Another event between two text deltas: leave the read whole (the string check
            # below would refuse it too; this is the cheap way to find out).
            return data
        lead = first[start + len(head):]
        if (b"\\" in middle or lead.endswith(b"\\")) and not _whole_escapes(lead, pieces):
            return data
        body = lead + middle + last[:end - 3]
        # Without a quote the body cannot end its string early; an invalid escape fails the
        # JSON decode that follows, as it would have one event at a time.
        if b'"' in body and _STRING_BODY.fullmatch(body) is None:
            return data
        return first + middle + last


def _whole_escapes(lead: bytes, pieces: list[bytes]) -> bool:
    """No body before a separator ends inside an escape: a final backslash must be the second
    half of `\\\\`, or it escaped the closing quote and the vendor's JSON was broken."""
    if b"\\\n" not in b"\n".join(pieces) + b"\n" and not lead.endswith(b"\\"):
        return True  # the usual case, backslashes only inside bodies (`\\n` escapes and such)
    return all((len(p) - len(p.rstrip(b"\\"))) % 2 == 0 for p in (lead, *pieces) if p.endswith(b"\\"))
