"""Server-sent events: an incremental decoder and the encoders surfaces use.

The decoder works on bytes and splits on blank lines with `bytes.find`, because it sits on
the hot path of every streamed call; it handles LF, CRLF and CR line ends, comments,
multi-line `data:` fields and events split across reads.
"""

from __future__ import annotations

import re

import attrs

DONE = b"[DONE]"
# Every block up to its blank line: `data: X` or `event: NAME` + `data: X` on single lines
# (groups 1-3), a stray newline, or anything else (group 4, parsed the slow way).
_BLOCK = re.compile(rb"(?:event: ?([^\n:]*)\n)?(data): ?([^\n]*)\n\n|\n|([^\n][\s\S]*?)\n\n")


@attrs.define(slots=True)
class SSEEvent:
    data: bytes
    event: str | None = None
    id: str | None = None


def _parse_block(block: bytes) -> SSEEvent | None:
    """Any block: the simple shapes are split by `_BLOCK` before they get here."""
    event: str | None = None
    ident: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == 0x3A:  # ':' starts a comment (keep-alives)
            continue
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode()
        elif name == b"id":
            ident = value.decode()
    if not data and event is None:
        return None
    return SSEEvent(b"\n".join(data), event, ident)


def _split_events(data: bytes) -> list[SSEEvent]:
    """The events of `data`, whole events ending with a blank line.

    One C-level scan splits them all; the shapes vendors send (`data: X`, `event: NAME` +
    `data: X`) come out parsed, anything else (comments, ids, multi-line data) goes through
    the general parser.
    """
    events: list[SSEEvent] = []
    append = events.append
    for name, simple, payload, other in _BLOCK.findall(data):
        if simple:
            append(SSEEvent(payload, name.decode() if name else None))
        elif other:
            ev = _parse_block(other)
            if ev is not None:
                append(ev)
    return events


def payloads(data: bytes) -> list[bytes]:
    """The `data` of each event of `data` (whole events with LF line ends, as `SSEDecoder.take`
    returns them), for formats whose JSON names its own type (OpenAI, Anthropic): no event
    object is built on the hot path."""
    region = data[:-2]
    blocks = region.split(b"\n\n")
    # JSON payloads never hold a raw newline, so newlines in the region are all framing:
    # it is made only of `data: X` and `event: N` + `data: X` blocks exactly when the
    # counts below agree. Then each payload is what follows `data: `; otherwise (comments,
    # ids, multi-line data, `data:` without a space) the general parser takes it.
    n = len(blocks)
    events = region.count(b"\nevent:") + region.startswith(b"event:")
    datas = region.count(b"\ndata: ") + region.startswith(b"data: ")
    if datas == n and region.count(b"\n") == 2 * (n - 1) + events:
        return [b.partition(b"data: ")[2] for b in blocks]
    return [ev.data for ev in _split_events(data)]


class SSEDecoder:
    """Feed it raw reads; it returns the complete events each read finished."""

    __slots__ = ("_buf", "_crlf", "_cr_end")

    def __init__(self) -> None:
        self._buf = b""
        self._crlf = False
        self._cr_end = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        data = self.take(chunk)
        return _split_events(data) if data else []

    def take(self, chunk: bytes) -> bytes:
        """Append a read; return the bytes of every event it completed, through the last blank
        line and with LF line ends (b"" when none is complete yet). The rest stays buffered."""
        if b"\r" in chunk or self._crlf:
            # Normalise once we have seen a CR; rare on the wire, so the common path stays lean.
            self._crlf = True
            if self._cr_end and chunk[:1] == b"\n":
                chunk = chunk[1:]  # the LF of a CRLF split across reads: that CR already ended the line
                self._cr_end = False
            if chunk:
                self._cr_end = chunk[-1:] == b"\r"
            # Blank lines first: in a CRLF stream of one-line events (Gemini's) that is every
            # CR; the 2-byte search (a third dearer per read) only runs when other CRs are
            # left. Same result as replacing every CRLF at once, as pairs cannot overlap. A
            # split from the right and a join search the read once (`replace` counts first,
            # then searches again to copy): half the cost on a large read.
            chunk = b"\n\n".join(chunk.rsplit(b"\r\n\r\n"))
            if b"\r" in chunk:
                chunk = chunk.replace(b"\r\n", b"\n")
                if b"\r" in chunk:  # a lone CR line end: rare, and a scan is cheaper than a copy
                    chunk = chunk.replace(b"\r", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self._buf = buf
            return b""
        self._buf = buf[cut + 2:]
        return buf[: cut + 2]

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream closed without a final blank line."""
        if not self._buf.strip():
            self._buf = b""
            return []
        ev = _parse_block(self._buf)
        self._buf = b""
        return [ev] if ev is not None else []


class LineDecoder:
    """Splits a JSON-lines stream into `SSEEvent`s carrying only `data`."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk
        *lines, self._buf = buf.split(b"\n")
        return [SSEEvent(line.strip()) for line in lines if line.strip()]

    def flush(self) -> list[SSEEvent]:
        rest, self._buf = self._buf.strip(), b""
        return [SSEEvent(rest)] if rest else []


def encode_data(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


def encode_event(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
