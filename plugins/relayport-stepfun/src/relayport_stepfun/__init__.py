"""relayport plugin for StepFun (阶跃星辰), an OpenAI-compatible chat API with its own quirks.

What differs from OpenAI, per platform.stepfun.ai's chat object, streaming and reasoning pages:
- reasoning text comes in `message.reasoning` / `delta.reasoning`; clients get it as
  `reasoning_content` and assistant history goes back to StepFun as `reasoning`;
- a stream carries cumulative `usage` on every chunk whether asked or not, and open chunks say
  `finish_reason: ""` and `role: ""` (both turned into what OpenAI clients expect);
- cache hits are counted in a top-level `usage.cached_tokens`, copied into OpenAI's
  `prompt_tokens_details.cached_tokens`;
- thinking is chosen by model (step-r1, step-3.5-flash think always); `reasoning_effort`
  (low/medium/high) is taken by step-3.7-flash, so other spellings go as `reasoning_effort`;
- vision models (step-1v, step-1o, step-3, step-r1-v) take `image_url` parts, the step-1o
  video models `video_url` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.openai_compat import OpenAICompat
from relayport.provider import ProviderSpec


def map_cached_tokens(usage: dict[str, Any]) -> bool:
    """Copy StepFun's top-level `cached_tokens` into `prompt_tokens_details.cached_tokens`."""
    hit = usage.get("cached_tokens")
    if not isinstance(hit, int):
        return False
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict):
        details = usage["prompt_tokens_details"] = {}
    if details.get("cached_tokens") == hit:
        return False
    details["cached_tokens"] = hit
    return True


STEPFUN = ProviderSpec(
    name="stepfun",
    base_url="https://api.stepfun.com/v1",
    key_env=("STEPFUN_API_KEY", "STEP_API_KEY"),
    auth="bearer",
    model_patterns=("step-*",),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision", "video"}),
    openai_compat=OpenAICompat(
        reasoning_field="reasoning",
        stream_usage="always",
        finish_map={},
        patch_usage=map_cached_tokens,
        effort_map={"minimal": "low", "xhigh": "high", "max": "high"},
    ),
    description="StepFun step models (reasoning, vision)",
    prices=PriceSheet(__name__),
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(STEPFUN)
