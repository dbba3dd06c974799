"""Anthropic clients to Anthropic-format vendors: the body goes as sent, with the vendor's model id.

Public so that plugins of vendors with an Anthropic-compatible endpoint (DeepSeek, GLM, Kimi,
MiniMax...) can serve the Messages surface the same way:

    from relayport_anthropic.passthrough import passthrough

    @hookimpl
    def relayport_passthrough(deployment, surface, body, headers):
        if surface == ANTHROPIC_MESSAGES:
            return passthrough(deployment, body, headers, base_path="/anthropic")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from relayport.model.http import UpstreamRequest
from relayport.model.usage import Usage
from relayport.provider import Deployment, Passthrough
from relayport_anthropic import server_tools, vocab
from relayport_anthropic.egress import endpoint, request_headers
from relayport_anthropic.errors import error_event
from relayport_anthropic.usage import decode_usage, merge

# Surface names this package serves; count_tokens is its own "surface" so the passthrough hook
# knows which endpoint to call.
MESSAGES = "anthropic.messages"
COUNT_TOKENS = "anthropic.count_tokens"


def usage_reader() -> Callable[[dict[str, Any]], Usage | None]:
    """Reads usage from a message body, or from a stream's message_start + message_delta events
    (the delta's counts are cumulative and omit fields that did not change)."""
    seen: dict[str, Any] = {}

    def usage_of(obj: dict[str, Any]) -> Usage | None:
        kind = obj.get("type")
        if kind == "message_delta":
            usage = obj.get("usage")
            if isinstance(usage, dict):
                merge(seen, usage)
                return decode_usage(seen)
            return None
        if kind == "message_start":
            usage = (obj.get("message") or {}).get("usage")
        elif kind == "message":
            usage = obj.get("usage")
        else:
            return None
        if not isinstance(usage, dict):
            return None
        seen.clear()
        seen.update(usage)
        return decode_usage(seen)

    return usage_of


def passthrough(
    deployment: Deployment,
    body: dict[str, Any],
    headers: Mapping[str, str],
    surface: str = MESSAGES,
    base_path: str = "",
) -> Passthrough:
    """Forward a Messages (or count_tokens) call; `base_path` is put before `/v1/messages` for
    vendors whose configured base URL does not already end with it."""
    body["model"] = deployment.model
    path = vocab.COUNT_TOKENS_PATH if surface == COUNT_TOKENS else vocab.MESSAGES_PATH
    if surface == COUNT_TOKENS:
        body.pop("stream", None)
    stream = bool(body.get("stream"))
    request = UpstreamRequest(
        "POST",
        endpoint(deployment, base_path.rstrip("/") + path) if base_path else endpoint(deployment, path),
        request_headers(deployment, server_tools.betas(body), client=headers),
        orjson.dumps(body),
        stream=stream,
    )
    # A stream the vendor breaks off ends with Anthropic's `error` event, which the SDKs raise.
    return Passthrough(request, usage=usage_reader(), stream_error=error_event)
