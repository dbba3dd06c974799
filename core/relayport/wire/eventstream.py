"""Binary stream framing: AWS's `application/vnd.amazon.eventstream` (Bedrock's streams).

A stream parser with `framing = "bytes"` gets every upstream read as it arrived (`RawChunks`:
one `SSEEvent` whose `data` is the read's bytes); frames may be cut anywhere across reads, so the
parser keeps an `EventStreamDecoder` that joins them and yields whole frames.

The frame format itself (prelude with total and headers length and its CRC32, typed headers,
payload, message CRC32) is decoded by botocore's `EventStreamBuffer` (the `aws` extra), the
decoder the AWS SDK for Python uses; this module only adapts it to the gateway's errors.
"""

from __future__ import annotations

from typing import Any

import attrs

from relayport.model.errors import GatewayError
from relayport.wire.sse import SSEEvent


class RawChunks:
    """The gateway's "decoder" for framing "bytes": each read goes to the parser whole."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return [SSEEvent(chunk)]

    def flush(self) -> list[SSEEvent]:
        return []


@attrs.define(slots=True)
class Frame:
    """One eventstream message: its headers (`:message-type`, `:event-type`,
    `:exception-type`, `:content-type`...) and its payload bytes."""

    headers: dict[str, Any]
    payload: bytes

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type", "event"))

    @property
    def name(self) -> str:
        """The event type (`chunk`, `contentBlockDelta`...), or the exception type."""
        kind = ":exception-type" if self.message_type == "exception" else ":event-type"
        return str(self.headers.get(kind) or self.headers.get(":error-code") or "")


def _buffer() -> Any:
    try:
        from botocore.eventstream import EventStreamBuffer
    except ImportError:
        raise GatewayError(500, "Reading AWS event streams needs botocore: pip install 'relayport[aws]'",
                           code="upstream_stream") from None
    return EventStreamBuffer()


class EventStreamDecoder:
    """Whole frames out of reads cut anywhere; a frame that fails its CRC (or a length that
    cannot be) is a 502 `upstream_malformed_stream`, as a garbled SSE stream is."""

    __slots__ = ("_buf", "_vendor", "pending")

    def __init__(self, vendor: str = "vendor") -> None:
        self._buf = _buffer()
        self._vendor = vendor
        # Bytes of a frame begun and not finished (non-zero at the end: the stream was cut).
        self.pending = 0

    def feed(self, data: bytes) -> list[Frame]:
        from botocore.eventstream import ParserError

        self._buf.add_data(data)
        self.pending += len(data)
        frames = []
        try:
            for msg in self._buf:
                self.pending -= msg.prelude.total_length
                frames.append(Frame(msg.headers, msg.payload))
        except ParserError as exc:
            raise GatewayError(502, f"{self._vendor}: the vendor's event stream is corrupt "
                               f"({type(exc).__name__}).", code="upstream_malformed_stream") from None
        return frames
