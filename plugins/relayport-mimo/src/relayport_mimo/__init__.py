"""relayport plugin for Xiaomi MiMo (OpenAI-compatible).

What differs from OpenAI, per platform.xiaomimimo.com (OpenAI API compatibility, deep thinking):
- the key goes in an `api-key` header (MiMo's first documented method; Bearer also works);
- thinking is `thinking: {type: enabled|disabled}`, on by default except on mimo-v2-flash;
  reasoning comes back in `reasoning_content` and, in a tool-calling conversation, must be
  sent back with every assistant turn that made calls (MiMo answers 400 otherwise), so it is
  replayed as received;
- the output cap is `max_completion_tokens`;
- usage may say `prompt_tokens_details: null`, which OpenAI's schema does not allow: dropped;
- answers carry `message.tool_calls: null` and no `logprobs`/`refusal`: filled in for clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.openai_compat import OpenAICompat
from relayport.provider import ProviderSpec


def drop_null_details(usage: dict[str, Any]) -> bool:
    """Remove `*_tokens_details: null`, which OpenAI's schema refuses (it wants an object or nothing)."""
    changed = False
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        if key in usage and usage[key] is None:
            del usage[key]
            changed = True
    return changed


MIMO = ProviderSpec(
    name="mimo",
    base_url="https://api.xiaomimimo.com/v1",
    key_env=("MIMO_API_KEY", "XIAOMI_API_KEY"),
    auth="header:api-key",
    model_patterns=("mimo-*",),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision"}),
    openai_compat=OpenAICompat(
        thinking="thinking_type",
        max_tokens_field="max_completion_tokens",
        patch_usage=drop_null_details,
        fill_missing=True,
    ),
    prices=PriceSheet(__name__),
    description="Xiaomi MiMo models",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(MIMO)
