"""Anthropic clients to the Anthropic-compatible endpoints other vendors serve (DeepSeek, GLM,
Kimi, Qwen, MiniMax...), as their plugins declare them with `ProviderSpec.anthropic`.

The surface hands `native_plan` to the gateway's passthrough: for a deployment whose own
plugin does not pass the call through, it forwards the client's body with the vendor's model
id to `{endpoint}/v1/messages`, and the answer comes back byte for byte. It returns None (the
call is translated) when the endpoint is off for the model, when the body carries content the
endpoint does not take (images to a text-only endpoint), or while the endpoint is known to be
missing (it answered 404: a proxy in `base_url` that serves only the OpenAI API).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import orjson

from relayport.anthropic_endpoint import AnthropicCall, AnthropicEndpoint, endpoint_for
from relayport.model.http import UpstreamRequest
from relayport.openai_compat import compat_for, output_limit
from relayport.provider import Deployment, Passthrough
from relayport_anthropic import vocab
from relayport_anthropic.errors import error_event
from relayport_anthropic.passthrough import COUNT_TOKENS, MESSAGES, usage_reader

# How long a 404 from an endpoint sends that deployment's calls to translation before the
# endpoint is tried again (the operator may fix the proxy, or the vendor roll it out).
MISSING_FOR = 600.0
_missing: weakref.WeakKeyDictionary[Deployment, dict[str, float]] = weakref.WeakKeyDictionary()


def native_plan(deployment: Deployment, surface: str, body: dict[str, Any],
                headers: dict[str, str]) -> Passthrough | None:
    """The passthrough to the deployment's Anthropic-compatible endpoint, or None to translate."""
    if surface not in (MESSAGES, COUNT_TOKENS):
        return None
    endpoint = endpoint_for(deployment)
    if endpoint is None:
        return None
    counting = surface == COUNT_TOKENS
    if counting and not endpoint.counts_tokens(deployment):
        return None  # the surface's local estimate answers
    until = _missing.get(deployment, {}).get(surface)
    if until is not None and time.monotonic() < until:
        return None
    if endpoint.blocks is not None and _foreign_block(body, endpoint.blocks):
        return None
    if endpoint.accepts is not None and not endpoint.accepts(body):
        return None
    adjustments: list[str] = []
    body["model"] = deployment.model
    if counting:
        body.pop("stream", None)
    else:
        _clamp_max_tokens(deployment, body, adjustments)
    _fields(deployment, endpoint, body, adjustments)
    if endpoint.adapt is not None:
        endpoint.adapt(body, AnthropicCall(deployment, adjustments))
    base = endpoint.base_url(deployment)
    if base.endswith("/v1"):
        base = base[:-3]  # the operator gave the SDK's URL with /v1: not doubled
    path = vocab.COUNT_TOKENS_PATH if counting else vocab.MESSAGES_PATH
    request = UpstreamRequest("POST", base + path, _headers(deployment, endpoint, headers),
                              orjson.dumps(body), stream=bool(body.get("stream")), adjustments=adjustments)

    def unavailable(status: int) -> bool:
        if status != 404:
            return False
        _missing.setdefault(deployment, {})[surface] = time.monotonic() + MISSING_FOR
        return True

    return Passthrough(request, usage=usage_reader(), stream_error=error_event, unavailable=unavailable)


def _foreign_block(body: dict[str, Any], allowed: frozenset[str]) -> bool:
    """Whether a message (or a tool result inside one) holds a block the endpoint does not take."""
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind not in allowed:
                return True
            if kind == "tool_result" and isinstance(inner := block.get("content"), list) and any(
                    isinstance(b, dict) and b.get("type") not in allowed for b in inner):
                return True
    return False


def _clamp_max_tokens(deployment: Deployment, body: dict[str, Any], adjustments: list[str]) -> None:
    """The model's output limit (the plugin's table, or `options.max_output_tokens`) holds on
    this endpoint too: Claude clients ask for more than many vendors' models give (Claude Code
    sends 32000)."""
    compat = deployment.provider.openai_compat
    limit = output_limit(deployment, compat_for(deployment, compat)) if compat is not None else None
    if limit is None and deployment.options:
        value = deployment.options.get("max_output_tokens")
        limit = value if isinstance(value, int) and not isinstance(value, bool) else None
    asked = body.get("max_tokens")
    if limit is not None and isinstance(asked, int) and asked > limit:
        body["max_tokens"] = limit
        adjustments.append(f"max_tokens clamped to {limit}")


def _fields(deployment: Deployment, endpoint: AnthropicEndpoint, body: dict[str, Any],
            adjustments: list[str]) -> None:
    name = deployment.provider.name
    ignored = [f for f in endpoint.ignored if _present(body, f)]
    if ignored:
        adjustments.append(f"ignored by {name}'s Anthropic endpoint: {' '.join(ignored)}")
    dropped = [f for f in endpoint.drop if body.pop(f, None) is not None]
    if dropped:
        adjustments.append(f"not sent (refused by {name}'s Anthropic endpoint): {' '.join(dropped)}")


def _present(body: dict[str, Any], path: str) -> bool:
    value: Any = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return True


def _headers(deployment: Deployment, endpoint: AnthropicEndpoint, client: dict[str, str]) -> dict[str, str]:
    """The vendor key the way this endpoint wants it (not necessarily as the vendor's OpenAI API
    does), and the client's Anthropic version and betas."""
    headers = deployment.auth_headers(endpoint.auth)
    headers["anthropic-version"] = client.get("anthropic-version") or vocab.DEFAULT_VERSION
    if beta := client.get("anthropic-beta"):
        headers["anthropic-beta"] = beta
    headers["Content-Type"] = "application/json"
    return headers
