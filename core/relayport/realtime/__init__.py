"""Realtime (speech-to-speech) sessions: a client WebSocket bridged to a vendor's.

The client speaks OpenAI's realtime events (`GET /v1/realtime?model=...`). A vendor plugin
describes its socket with `relayport_realtime_endpoint` (URL, headers, and a translator for
vendors whose events differ); the core owns both sockets (`bridge`), the close codes, the
pings, back-pressure, and the usage of each `response.done` (`events`).
"""

from relayport.realtime.endpoint import RealtimeEndpoint, RealtimeError, RealtimeTranslator, Relay

__all__ = ["RealtimeEndpoint", "RealtimeError", "RealtimeTranslator", "Relay"]
