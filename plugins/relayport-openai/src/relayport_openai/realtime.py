"""OpenAI's realtime WebSocket: the client's events pass through unchanged."""

from __future__ import annotations

from urllib.parse import urlencode

from relayport.provider import Deployment
from relayport.realtime import RealtimeEndpoint
from relayport.realtime.endpoint import ws_url


def endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint:
    """`{base_url}/realtime?model=...` as wss, with the vendor key as a Bearer header."""
    url = ws_url(deployment.url("/realtime")) + "?" + urlencode({**query, "model": deployment.model})
    return RealtimeEndpoint(url, deployment.auth_headers())
