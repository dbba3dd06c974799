"""Anthropic clients to the Anthropic-compatible endpoints other vendors serve (DeepSeek, GLM,
Kimi, Qwen, MiniMax...), as their plugins declare them with `ProviderSpec.anthropic`.

The surface hands `native_plan` to the gateway's passthrough: for a deployment whose own
plugin does not pass the call through, it forwards the client's body with the vendor's model
id to `{endpoint}/v1/messages`, and the answer comes back byte for byte. It returns None (the
call is translated) when the endpoint is off for the model, when the body carries content the
endpoint does not take (images to a text-only endpoint), or while the endpoint is known to be
missing (it answered 404, 405 or 401: a proxy in `base_url` that serves only the OpenAI API).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import attrs
import orjson

from relayport.anthropic_endpoint import AnthropicCall, AnthropicEndpoint, endpoint_for
from relayport.model.http import UpstreamRequest
from relayport.openai_compat import compat_for, output_limit
from relayport.provider import Deployment, Passthrough
from relayport_anthropic import vocab
from relayport_anthropic.errors import error_event
from relayport_anthropic.passthrough import COUNT_TOKENS, MESSAGES, usage_reader

# How long a "not there" answer sends that deployment's calls to translation before the
# endpoint is tried again (the operator may fix the proxy, or the vendor roll it out).
MISSING_FOR = 600.0
# A proxy in `base_url` that serves only the OpenAI API answers the endpoint's path with 404 or
# 405, or with 401 when it checks its own auth header (Bearer) first. Translating such a call
# costs one round trip more when the vendor itself meant it (a wrong key fails there too).
NOT_THERE = frozenset({401, 404, 405})


@attrs.define(eq=False)
class _Target:
    """What a deployment's calls to its endpoint share, worked out on its first call."""

    endpoint: AnthropicEndpoint
    base: str                   # the endpoint as an Anthropic SDK's base_url, without /v1
    limit: int | None           # the model's output limit
    counts: bool
    missing: dict[str, float] = attrs.field(factory=dict)  # surface -> monotonic time until


_targets: weakref.WeakKeyDictionary[Deployment, _Target | None] = weakref.WeakKeyDictionary()


def _target(deployment: Deployment) -> _Target | None:
    try:
        return _targets[deployment]
    except KeyError:
        pass
    endpoint = endpoint_for(deployment)
    target = None
    if endpoint is not None:
        base = endpoint.base_url(deployment)
        if base.endswith("/v1"):
            base = base[:-3]  # the operator gave the SDK's URL with /v1: not doubled
        target = _Target(endpoint, base, _output_limit(deployment), endpoint.counts_tokens(deployment))
    _targets[deployment] = target
    return target


def native_plan(deployment: Deployment, surface: str, body: dict[str, Any],
                headers: dict[str, str]) -> Passthrough | None:
    """The passthrough to the deployment's Anthropic-compatible endpoint, or None to translate."""
    target = _target(deployment)
    if target is None or surface not in (MESSAGES, COUNT_TOKENS):
        return None
    counting = surface == COUNT_TOKENS
    if counting and not target.counts:
        return None  # the surface's local estimate answers
    if target.missing and time.monotonic() < target.missing.get(surface, 0.0):
        return None
    endpoint = target.endpoint
    if endpoint.blocks is not None and _foreign_block(body, endpoint.blocks):
        return None
    if endpoint.accepts is not None and not endpoint.accepts(body):
        return None
    adjustments: list[str] = []
    # Changes go to a copy of the top level (all that is changed): should the endpoint turn
    # out not to be there, the call is translated from the client's own body.
    body = {**body, "model": deployment.model}
    if counting:
        body.pop("stream", None)
    elif target.limit is not None and isinstance(asked := body.get("max_tokens"), int) and asked > target.limit:
        # Claude clients ask for more than many vendors' models give (Claude Code sends 32000).
        body["max_tokens"] = target.limit
        adjustments.append(f"max_tokens clamped to {target.limit}")
    if endpoint.ignored or endpoint.drop:
        _fields(deployment, endpoint, body, adjustments)
    if endpoint.adapt is not None:
        endpoint.adapt(body, AnthropicCall(deployment, adjustments))
    path = vocab.COUNT_TOKENS_PATH if counting else vocab.MESSAGES_PATH
    request = UpstreamRequest("POST", target.base + path, _headers(deployment, endpoint, headers),
                              orjson.dumps(body), stream=bool(body.get("stream")), adjustments=adjustments)

    def unavailable(status: int) -> bool:
        if status not in NOT_THERE:
            return False
        target.missing[surface] = time.monotonic() + MISSING_FOR
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


def _output_limit(deployment: Deployment) -> int | None:
    """The model's output limit: `options.max_output_tokens`, else the plugin's table."""
    compat = deployment.provider.openai_compat
    if compat is not None:
        return output_limit(deployment, compat_for(deployment, compat))
    value = deployment.options.get("max_output_tokens") if deployment.options else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fields(deployment: Deployment, endpoint: AnthropicEndpoint, body: dict[str, Any],
            adjustments: list[str]) -> None:
    name = deployment.provider.name
    ignored = [f for f in endpoint.ignored if (f in body if "." not in f else _present(body, f))]
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
