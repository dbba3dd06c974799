"""What of a Messages conversation may be replayed to Claude: only thinking it can verify.

Claude checks the `signature` of every `thinking` block (and the `data` of every
`redacted_thinking` block) sent back to it and refuses the whole call when one does not verify.
Conversations reach Claude carrying blocks it never signed: the gateway's own thinking blocks
from another vendor's turn (`"signature": ""`), or blocks a client emptied. Those are dropped
before the call; when that leaves the tool-use turn in progress without its leading thinking
block, Claude would refuse thinking for the call, so thinking is turned off for that one call.

A signature that is present but was made by another vendor's Anthropic-compatible endpoint
cannot be told apart from Claude's here, and goes through.
"""

from __future__ import annotations

from typing import Any

DROPPED_THINKING = "dropped unverifiable thinking blocks"
THINKING_OFF = "thinking off for a tool loop without signed thinking"
_THINKING_TYPES = ("thinking", "redacted_thinking")


def verifiable(block: dict[str, Any]) -> bool:
    """False for a thinking block Claude cannot verify (no signature, or no redacted data)."""
    if block.get("type") == "thinking":
        sig = block.get("signature")
        return isinstance(sig, str) and bool(sig)
    data = block.get("data")
    return isinstance(data, str) and bool(data)


def drop_unverifiable(body: dict[str, Any]) -> list[str]:
    """Remove the thinking Claude cannot verify from a Messages body, in place; returns the
    adjustments made (empty when the body was left alone, the common case)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []  # malformed: Claude's own validation answers
    dropped = False
    for m in messages:
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        content = m.get("content")
        if not isinstance(content, list):
            continue
        if any(isinstance(b, dict) and b.get("type") in _THINKING_TYPES and not verifiable(b) for b in content):
            m["content"] = [b for b in content if not (
                isinstance(b, dict) and b.get("type") in _THINKING_TYPES and not verifiable(b))]
            dropped = True
    if not dropped:
        return []
    body["messages"] = _join_neighbours([m for m in messages if not _emptied(m)])
    out = [DROPPED_THINKING]
    if _thinking_on(body) and _tool_turn_lacks_thinking(body["messages"]):
        del body["thinking"]
        out.append(THINKING_OFF)
    return out


def _emptied(m: Any) -> bool:
    return isinstance(m, dict) and m.get("role") == "assistant" and m.get("content") == []


def _as_blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content) if isinstance(content, list) else []


def _join_neighbours(messages: list[Any]) -> list[Any]:
    """Turns must alternate: two user turns left side by side by a removed assistant turn
    become one."""
    out: list[Any] = []
    for m in messages:
        prev = out[-1] if out else None
        if (isinstance(m, dict) and isinstance(prev, dict) and m.get("role") == prev.get("role") == "user"):
            out[-1] = {**prev, "content": _as_blocks(prev.get("content")) + _as_blocks(m.get("content"))}
        else:
            out.append(m)
    return out


def _thinking_on(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _tool_turn_lacks_thinking(messages: list[Any]) -> bool:
    """The last user turn answers tools and the assistant turn before it does not start with
    thinking: what Claude refuses when thinking is on."""
    if len(messages) < 2:
        return False
    last, prev = messages[-1], messages[-2]
    if not (isinstance(last, dict) and isinstance(prev, dict) and prev.get("role") == "assistant"):
        return False
    if not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in _as_blocks(last.get("content"))):
        return False
    blocks = _as_blocks(prev.get("content"))
    return not blocks or not isinstance(blocks[0], dict) or blocks[0].get("type") not in _THINKING_TYPES
