"""How the gateway's thinking request is spelled for each Groq model, on both paths."""

from __future__ import annotations

from typing import Any

from relayport.model.chat import Thinking

_GPT_OSS_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high",
                   "max": "high"}


def family(model: str) -> str:
    if model.startswith("openai/gpt-oss"):
        return "gpt-oss"
    if model.startswith("qwen/qwen3"):
        return "qwen3"
    return "none"


def adapt(body: dict[str, Any], model: str, thinking: Thinking | None, adjustments: list[str]) -> None:
    """Write `thinking` the way `model` takes it, in place; announce what could not be kept."""
    kind = family(model)
    if kind == "qwen3" and "reasoning_format" not in body and "include_reasoning" not in body:
        # Qwen's default is "raw" (<think> in the content): ask for the reasoning field instead.
        body["reasoning_format"] = "parsed"
    if thinking is None or (thinking.enabled is None and thinking.effort is None):
        return
    if thinking.budget_tokens is not None:
        adjustments.append("thinking_budget dropped: Groq has no thinking budget")
    if kind == "qwen3":
        body["reasoning_effort"] = "none" if thinking.enabled is False else "default"
    elif kind == "gpt-oss":
        if thinking.enabled is False:
            adjustments.append(f"thinking kept on: {model} always reasons")
        if thinking.effort:
            body["reasoning_effort"] = _GPT_OSS_EFFORT.get(thinking.effort, "medium")
    elif thinking.enabled or thinking.effort:
        adjustments.append(f"thinking dropped: {model} does not reason")
