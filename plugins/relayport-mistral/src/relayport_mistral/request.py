"""What a Mistral chat body needs beyond the OpenAI-compatible base, on both paths.

Mistral's API validates bodies strictly: a field it does not know is a 422 ("Extra inputs are
not permitted"). OpenAI SDK-based clients routinely send a few OpenAI-only ones; those are
dropped (announced); anything else reaches Mistral and its 422 comes back as a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayport.model.chat import Thinking

# OpenAI-only request fields Mistral refuses, which change nothing a Mistral model could do.
OPENAI_ONLY = ("store", "user", "service_tier", "logprobs", "top_logprobs", "logit_bias",
               "modalities", "prompt_cache_key", "safety_identifier", "verbosity", "metadata")
_LARGE_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high",
                 "max": "high"}


def reasoning_kind(model: str) -> str:
    """"native" (magistral: always reasons), "switch" (reasoning_effort high|none), "levels"
    (mistral-large-4: low|medium|high), or "none"."""
    if model.startswith("magistral"):
        return "native"
    if model.startswith(("mistral-small-latest", "mistral-small-2603", "mistral-medium-3-5",
                         "mistral-medium-3.5")):
        return "switch"
    if model.startswith("mistral-large-4"):
        return "levels"
    return "none"


def adapt(body: dict[str, Any], model: str, thinking: Thinking | None, options: Mapping[str, Any],
          adjustments: list[str]) -> None:
    """Make an OpenAI-form body Mistral's, in place."""
    # Mistral always sends usage on the last chunk; the gateway honours `include_usage` itself.
    body.pop("stream_options", None)
    dropped = [key for key in OPENAI_ONLY if body.pop(key, None) is not None]
    if dropped:
        adjustments.append(f"{', '.join(dropped)} dropped: Mistral does not take them")
    if "seed" in body:
        body["random_seed"] = body.pop("seed")  # Mistral's name for it
    if options.get("safe_prompt") is True:
        body["safe_prompt"] = True  # the operator's choice for this model wins over the client's
    _thinking(body, model, thinking, adjustments)


def _thinking(body: dict[str, Any], model: str, thinking: Thinking | None, adjustments: list[str]) -> None:
    if thinking is None or (thinking.enabled is None and thinking.effort is None):
        return
    kind = reasoning_kind(model)
    if thinking.budget_tokens is not None:
        adjustments.append("thinking_budget dropped: Mistral has no thinking budget")
    if kind == "switch":
        body["reasoning_effort"] = "none" if thinking.enabled is False else "high"
    elif kind == "levels" and thinking.enabled is not False and thinking.effort:
        body["reasoning_effort"] = _LARGE_EFFORT.get(thinking.effort, "medium")
    elif kind == "native":
        if thinking.enabled is False:
            adjustments.append(f"thinking kept on: {model} always reasons")
    elif thinking.enabled or thinking.effort:
        adjustments.append(f"thinking dropped: {model} does not reason")
