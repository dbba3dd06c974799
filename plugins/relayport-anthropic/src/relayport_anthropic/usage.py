"""Anthropic `usage` objects <-> canonical `Usage`.

Anthropic's `input_tokens` is only the uncached part of the prompt; the whole prompt is
`input_tokens + cache_creation_input_tokens + cache_read_input_tokens`. Canonical
`input_tokens` is the whole prompt (OpenAI's `prompt_tokens`), so decoding sums and
encoding subtracts.
"""

from __future__ import annotations

from typing import Any

from relayport.model.usage import Usage


def decode_usage(u: dict[str, Any]) -> Usage:
    uncached = u.get("input_tokens") or 0
    read = u.get("cache_read_input_tokens")
    written = u.get("cache_creation_input_tokens")
    split = u.get("cache_creation")
    details = u.get("output_tokens_details")
    usage = Usage(
        input_tokens=uncached + (read or 0) + (written or 0),
        output_tokens=u.get("output_tokens") or 0,
        cached_tokens=read,
        cache_write_tokens=written,
    )
    if isinstance(split, dict):
        usage.cache_write_5m_tokens = split.get("ephemeral_5m_input_tokens")
        usage.cache_write_1h_tokens = split.get("ephemeral_1h_input_tokens")
    if isinstance(details, dict):
        usage.reasoning_tokens = details.get("thinking_tokens")
    tools = u.get("server_tool_use")
    if isinstance(tools, dict) and any(tools.values()):
        # Web search/fetch requests are billed per request; keep them visible.
        usage.extra["server_tool_use"] = tools
    return usage


def merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    """Fold a `message_delta` usage (cumulative; optional fields omitted) into the start's."""
    for key, value in update.items():
        if value is not None:
            into[key] = value


def encode_usage(u: Usage | None) -> dict[str, Any]:
    """Canonical usage as an Anthropic `usage` object (the uncached input part first)."""
    if u is None:
        return {"input_tokens": 0, "output_tokens": 0,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    read = u.cached_tokens or 0
    written = u.cache_write_tokens or 0
    out: dict[str, Any] = {
        "input_tokens": max(0, u.input_tokens - read - written),
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }
    if u.cache_write_5m_tokens is not None or u.cache_write_1h_tokens is not None:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": u.cache_write_5m_tokens or 0,
            "ephemeral_1h_input_tokens": u.cache_write_1h_tokens or 0,
        }
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out
