"""new-api's usage fields in OpenAI chat answers (`[server] usage_fields = "new-api"`).

Clients written against new-api/one-api style aggregators read a usage object with more
keys than OpenAI's (seed 004 of the aggregator docs): text/audio/image parts of the prompt,
`output_tokens_details`, `input_tokens`/`output_tokens`, and Claude's cache writes by TTL.
They are added beside OpenAI's own keys, which stay as they are; a part the vendor did not
report is 0, as new-api reports it. `input_tokens`/`output_tokens` carry the real counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport.provider import Passthrough

Patch = Callable[[dict[str, Any]], bool]
Tail = Callable[[dict[str, Any]], dict[str, Any] | None]


def add_fields(usage: dict[str, Any]) -> None:
    """Add new-api's keys to an OpenAI usage object in place (keys already there are kept)."""
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    ptd = usage.get("prompt_tokens_details")
    ptd = usage["prompt_tokens_details"] = dict(ptd) if isinstance(ptd, dict) else {}
    for key in ("cached_tokens", "text_tokens", "audio_tokens", "image_tokens"):
        ptd.setdefault(key, 0)
    ctd = usage.get("completion_tokens_details")
    ctd = usage["completion_tokens_details"] = dict(ctd) if isinstance(ctd, dict) else {}
    for key in ("text_tokens", "audio_tokens", "reasoning_tokens"):
        ctd.setdefault(key, 0)
    usage.setdefault("output_tokens_details", {k: ctd[k] for k in ("text_tokens", "audio_tokens",
                                                                      "reasoning_tokens")})
    usage.setdefault("input_tokens", prompt)
    usage.setdefault("output_tokens", completion)
    usage.setdefault("input_tokens_details", None)
    ttl = usage.get("cache_creation")
    ttl = ttl if isinstance(ttl, dict) else {}
    usage.setdefault("claude_cache_creation_5_m_tokens", ttl.get("ephemeral_5m_input_tokens") or 0)
    usage.setdefault("claude_cache_creation_1_h_tokens", ttl.get("ephemeral_1h_input_tokens") or 0)


def extend(plan: Passthrough) -> None:
    """Make a passthrough plan add the fields to the usage it forwards."""
    plan.patch = patch_with(plan.patch)
    if plan.tail is not None:
        plan.tail = tail_with(plan.tail)


def patch_with(inner: Patch | None) -> Patch:
    """A passthrough `patch` that runs the plugin's own first, then extends the usage it left."""

    def patch(obj: dict[str, Any]) -> bool:
        changed = inner(obj) if inner is not None else False
        usage = obj.get("usage")
        if isinstance(usage, dict):
            add_fields(usage)
            return True
        return changed

    return patch


def tail_with(inner: Tail) -> Tail:
    """A passthrough `tail` whose extra usage chunk gets the fields too."""

    def tail(obj: dict[str, Any]) -> dict[str, Any] | None:
        out = inner(obj)
        if out is not None and isinstance(out.get("usage"), dict):
            add_fields(out["usage"])
        return out

    return tail
