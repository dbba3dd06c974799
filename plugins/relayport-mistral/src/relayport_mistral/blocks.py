"""Mistral's reasoning content blocks -> OpenAI's `reasoning_content` + string `content`.

Reasoning models (magistral-*, and mistral-small/medium with `reasoning_effort: high`) answer
with `content` as a list of chunks: `{"type": "thinking", "thinking": [{"type": "text",
"text": ...}]}` and `{"type": "text", "text": ...}` (docs.mistral.ai, capabilities/reasoning;
the same in stream deltas). OpenAI clients expect a string, so the text chunks are joined into
`content` and the thinking chunks into `reasoning_content`. Other chunks (references) carry
no text for the client and are left out.
"""

from __future__ import annotations

from typing import Any


def split(msg: dict[str, Any], delta: bool) -> bool:
    """Rewrite one message (or stream delta) in place; False when its content is a plain string."""
    content = msg.get("content")
    if not isinstance(content, list):
        return False
    reasoning: list[str] = []
    text: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text.append(str(block.get("text") or ""))
        elif kind == "thinking":
            parts = block.get("thinking")
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict) and part.get("type") == "text":
                    reasoning.append(str(part.get("text") or ""))
    joined = "".join(text)
    if delta and not joined:
        del msg["content"]
    else:
        msg["content"] = joined if joined or not reasoning else None
    if reasoning:
        msg["reasoning_content"] = "".join(reasoning)
    return True


def split_choices(obj: dict[str, Any]) -> bool:
    """Every choice of a completion or chunk; True when something changed."""
    changed = False
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict):
            changed = split(delta, True) or changed
        message = choice.get("message")
        if isinstance(message, dict):
            changed = split(message, False) or changed
    return changed
