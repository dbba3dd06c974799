"""`usageMetadata` -> canonical `Usage`."""

from __future__ import annotations

from typing import Any

from relayport.model.usage import Usage

_MODALITY_FIELDS = {"AUDIO": "input_audio_tokens", "IMAGE": "input_image_tokens",
                    "VIDEO": "input_video_tokens"}


def decode_usage(u: dict[str, Any]) -> Usage:
    """Gemini counts thoughts apart from the answer (`candidatesTokenCount` excludes them);
    OpenAI's completion_tokens include reasoning, so they are added. Tool-use prompt tokens
    (search results, fetched context) are prompt the model read, so they count as input."""
    prompt = int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0)
    thoughts = u.get("thoughtsTokenCount")
    usage = Usage(
        input_tokens=prompt,
        output_tokens=int(u.get("candidatesTokenCount") or 0) + int(thoughts or 0),
        cached_tokens=int(u.get("cachedContentTokenCount") or 0),
        reasoning_tokens=int(thoughts) if thoughts is not None else None,
    )
    details = u.get("promptTokensDetails")
    if isinstance(details, list):
        for d in details:
            if isinstance(d, dict) and d.get("modality") in _MODALITY_FIELDS:
                setattr(usage, _MODALITY_FIELDS[d["modality"]], int(d.get("tokenCount") or 0))
    for key in ("promptTokensDetails", "candidatesTokensDetails", "cacheTokensDetails",
                "toolUsePromptTokensDetails", "toolUsePromptTokenCount"):
        if key in u:
            usage.extra[key] = u[key]
    return usage


def encode_usage(usage: Usage) -> dict[str, Any]:
    """Canonical usage as `usageMetadata` (the Gemini surface answering for other vendors)."""
    thoughts = usage.reasoning_tokens or 0
    out: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(0, usage.output_tokens - thoughts),
        "totalTokenCount": usage.total_tokens,
    }
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    return out
