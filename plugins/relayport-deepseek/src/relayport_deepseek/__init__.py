"""relayport plugin for DeepSeek (OpenAI-compatible, with its own reasoning and cache fields).

What differs from OpenAI, per DeepSeek's API docs:
- reasoning text comes in `reasoning_content` (the core's default field);
- thinking is switched with `thinking: {type: enabled|disabled}` and `reasoning_effort`
  takes only `high` and `max` (low/medium mean high, xhigh means max);
- cache hits are counted in `usage.prompt_cache_hit_tokens`, which we map onto OpenAI's
  `prompt_tokens_details.cached_tokens` so OpenAI clients see them;
- output limits per model (DeepSeek's pricing page): deepseek-chat 8K, deepseek-reasoner 64K;
  a larger `max_tokens` is clamped (Claude Code sends 32000) rather than refused, and
  `max_completion_tokens`, which DeepSeek ignores, is sent as `max_tokens`;
- `reasoning_content` of earlier assistant turns is sent back by default; per model
  `options.replay_reasoning = false` strips it (the core's `OpenAICompat.replay_reasoning`);
- under load DeepSeek keeps the connection open with blank lines / `: keep-alive` comments,
  which the core's JSON and SSE readers already skip;
- Anthropic clients (`/v1/messages`) go to DeepSeek's own Anthropic endpoint
  (`{host}/anthropic`, `x-api-key`), untranslated; its compatibility table lists the fields it
  ignores (announced) and that it takes no image or document blocks and only `effort` from
  `output_config` (those calls are translated).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.anthropic_endpoint import AnthropicEndpoint
from relayport.openai_compat import OpenAICompat
from relayport.provider import ProviderSpec


def map_cache_usage(usage: dict[str, Any]) -> bool:
    """Copy DeepSeek's cache-hit count into `prompt_tokens_details.cached_tokens`."""
    hit = usage.get("prompt_cache_hit_tokens")
    if not isinstance(hit, int):
        return False
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict):
        details = usage["prompt_tokens_details"] = {}
    if details.get("cached_tokens") == hit:
        return False
    details["cached_tokens"] = hit
    return True


def _no_output_format(body: dict[str, Any]) -> bool:
    """DeepSeek's Anthropic endpoint takes only `effort` from `output_config`: a structured-output
    request is translated, where the schema becomes an instruction (`json_schema=False`)."""
    config = body.get("output_config")
    return not (isinstance(config, dict) and "format" in config)


DEEPSEEK = ProviderSpec(
    name="deepseek",
    base_url="https://api.deepseek.com",
    key_env=("DEEPSEEK_API_KEY",),
    auth="bearer",
    model_patterns=("deepseek-*",),
    capabilities=frozenset({"chat", "stream", "tools", "thinking"}),
    openai_compat=OpenAICompat(
        thinking="thinking_type",
        effort_map={"minimal": "high", "low": "high", "medium": "high", "xhigh": "max"},
        patch_usage=map_cache_usage,
        max_output_tokens={"deepseek-chat": 8192, "deepseek-reasoner": 65536},
        json_schema=False,
    ),
    anthropic=AnthropicEndpoint(
        path="/anthropic", strip=("/v1",), models=("deepseek-*",),
        ignored=("top_k", "container", "mcp_servers", "service_tier", "thinking.budget_tokens"),
        accepts=_no_output_format,
    ),
    description="DeepSeek chat and reasoner models",
    prices=PriceSheet(__name__),
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(DEEPSEEK)
