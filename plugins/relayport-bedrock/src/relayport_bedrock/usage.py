"""Bedrock usage -> canonical `Usage`.

Converse's `inputTokens` counts only the uncached prompt; `cacheReadInputTokens` and
`cacheWriteInputTokens` come on top (as Anthropic counts), so the whole prompt is their sum.
"""

from __future__ import annotations

from typing import Any

from relayport.model.usage import Usage


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def decode_usage(u: dict[str, Any]) -> Usage:
    read = u.get("cacheReadInputTokens")
    write = u.get("cacheWriteInputTokens")
    return Usage(
        input_tokens=_int(u.get("inputTokens")) + _int(read) + _int(write),
        output_tokens=_int(u.get("outputTokens")),
        cached_tokens=read if isinstance(read, int) else None,
        cache_write_tokens=write if isinstance(write, int) else None,
    )


def decode_anthropic(u: dict[str, Any]) -> Usage:
    """Claude's Messages usage (InvokeModel answers and stream events)."""
    read = u.get("cache_read_input_tokens")
    write = u.get("cache_creation_input_tokens")
    return Usage(
        input_tokens=_int(u.get("input_tokens")) + _int(read) + _int(write),
        output_tokens=_int(u.get("output_tokens")),
        cached_tokens=read if isinstance(read, int) else None,
        cache_write_tokens=write if isinstance(write, int) else None,
    )
