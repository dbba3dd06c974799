"""A passed-through stream whose vendor framing differs from the client's (`Passthrough.transcode`).

Bedrock streams Anthropic's Messages events inside binary eventstream frames; an Anthropic
client wants them as SSE. The plugin gives a `Transcoder` (vendor bytes in, client SSE bytes
out, per read) and the gateway reads the response through `Transcoded`, so the rest of its
passthrough pipe (whole events, usage, patches, errors) stays as it is for SSE vendors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import aiohttp

from relayport.model.errors import GatewayError


class Transcoder(Protocol):
    """One per stream. `feed` may return b"" (a frame not complete yet); raising
    `GatewayError` ends the stream with that error in the client's format."""

    def feed(self, data: bytes) -> bytes: ...

    def close(self) -> bytes:
        """The vendor's stream ended: trailing bytes (raise when it ended mid-frame)."""
        ...


class Transcoded:
    """`readany()` over a vendor response, giving the client's bytes."""

    __slots__ = ("_content", "_transcoder", "_error", "_ended", "total_bytes", "last", "failure")

    def __init__(self, content: aiohttp.StreamReader, transcoder: Transcoder,
                 error: Callable[[GatewayError], bytes]) -> None:
        self._content = content
        self._transcoder = transcoder
        self._error = error
        self._ended = False
        # The client's bytes given so far, as aiohttp's StreamReader counts the vendor's (the
        # estimate of a stream cut short scales its sample of them: relayport.interrupted).
        self.total_bytes = 0
        self.last = b""  # the last of them that was not an error event (that estimate's sample)
        # The vendor's failure given to the client as an error event (the call's outcome).
        self.failure: GatewayError | None = None

    async def readany(self) -> bytes:
        while not self._ended:
            data = await self._content.readany()
            try:
                if not data:
                    self._ended = True
                    return self._transcoder.close()
                out = self._transcoder.feed(data)
            except GatewayError as exc:
                self._ended = True
                self.failure = exc
                return self._error(exc)
            if out:
                self.total_bytes += len(out)
                self.last = out
                return out
        return b""
