"""Grok's usage -> OpenAI's meaning of `completion_tokens`.

xAI counts reasoning tokens in `completion_tokens_details.reasoning_tokens` and in
`total_tokens`, but not in `completion_tokens` (docs.x.ai reasoning guide; new-api recomputes
completion = total - prompt for the same reason). OpenAI's `completion_tokens` includes them, and
clients bill from it, so they are added when the numbers show they were left out.
"""

from __future__ import annotations

from typing import Any


def count_reasoning(usage: dict[str, Any]) -> bool:
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    prompt, completion, total = usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")
    if not (isinstance(reasoning, int) and reasoning > 0 and isinstance(prompt, int)
            and isinstance(completion, int) and isinstance(total, int)):
        return False
    if total != prompt + completion + reasoning:
        return False  # already OpenAI's way (or counted differently): leave it
    usage["completion_tokens"] = completion + reasoning
    return True
