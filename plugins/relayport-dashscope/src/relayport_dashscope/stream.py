"""The compatible-mode stream parser for translated calls: the core's, with DashScope's error codes.

An error event inside a 200 stream (DashScope stops output that fails content inspection this
way) is classified like an error body, so an Anthropic client hears "content filter" rather
than a generic upstream failure. Only the reads that end in an error are looked at.
"""

from __future__ import annotations

from relayport.model.errors import GatewayError
from relayport.model.stream import StreamError, StreamEvent
from relayport.openai_compat import OpenAIStreamParser
from relayport.wire.sse import SSEEvent
from relayport_dashscope.errors import classify


class DashScopeStreamParser:
    framing = "sse"

    def __init__(self, inner: OpenAIStreamParser) -> None:
        self._inner = inner

    @property
    def done(self) -> bool:
        return self._inner.done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        try:
            return self._inner.feed(event)
        except GatewayError as exc:
            raise classify(exc) from None

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        events = self._inner.feed_sse(data)
        if events and isinstance(events[-1], StreamError):
            classify(events[-1].error)
        return events

    def close(self) -> list[StreamEvent]:
        return self._inner.close()
