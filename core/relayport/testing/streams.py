"""Checking a stream parser's whole-read path (`feed_sse`) against its event-by-event path.

    from relayport.testing.streams import event_by_event, whole_reads

    expected = event_by_event(MyParser(), [raw])
    for cut in range(len(raw) + 1):
        assert whole_reads(MyParser(), [raw[:cut], raw[cut:]]) == expected

Both feed the pieces through the core's SSE decoder as the gateway does and return the
events as a client sees them: adjacent text (and reasoning) joined, empty text dropped, an
error as `("error", status)`.
"""

from __future__ import annotations

from typing import Any

from relayport.model.errors import GatewayError
from relayport.model.stream import ReasoningDelta, StreamError, StreamEvent, TextDelta
from relayport.provider import StreamParser
from relayport.wire.sse import SSEDecoder


def coalesce(events: list[StreamEvent]) -> list[Any]:
    out: list[Any] = []
    for ev in events:
        if isinstance(ev, (TextDelta, ReasoningDelta)):
            if not ev.text:
                continue
            if out and type(out[-1]) is type(ev):
                out[-1] = type(ev)(out[-1].text + ev.text)
                continue
        if isinstance(ev, StreamError):
            out.append(("error", ev.error.status))
            continue
        out.append(ev)
    return out


def event_by_event(parser: StreamParser, pieces: list[bytes]) -> list[Any]:
    decoder, out = SSEDecoder(), []
    try:
        for piece in pieces:
            for ev in decoder.feed(piece):
                out.extend(parser.feed(ev))
                if parser.done:
                    return coalesce(out)
    except GatewayError as exc:  # what the core makes of a raised error
        out.append(StreamError(exc))
    return coalesce(out)


def whole_reads(parser: StreamParser, pieces: list[bytes]) -> list[Any]:
    feed_sse = parser.feed_sse  # type: ignore[attr-defined]  # the optional fast path
    decoder, out = SSEDecoder(), []
    try:
        for piece in pieces:
            data = decoder.take(piece)
            if data:
                out.extend(feed_sse(data))
                if parser.done:
                    break
    except GatewayError as exc:
        out.append(StreamError(exc))
    return coalesce(out)
