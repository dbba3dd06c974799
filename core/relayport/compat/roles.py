"""Vendors that refuse a conversation whose roles do not alternate (Qianfan, Hunyuan), or that
know no `developer` role.

OpenAI takes several user messages in a row (a client adding context, a UI sending a file
and a question separately); these vendors answer 400 unless user (or tool) and assistant
turns alternate. `merge_runs` joins each run of one role into one message, in place, and
says so in the call's adjustments. Tool results may follow each other and are never joined.
"""

from __future__ import annotations

from typing import Any

ANNOUNCEMENT = "consecutive same-role messages merged"
DEVELOPER_ANNOUNCEMENT = "developer messages sent as system"


def developer_as_system(body: dict[str, Any], adjustments: list[str]) -> None:
    """OpenAI's `developer` role (its newer name for system instructions) as `system`, for
    vendors that take only the older name; announced."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(
            isinstance(m, dict) and m.get("role") == "developer" for m in messages):
        return
    body["messages"] = [{**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m
                        for m in messages]
    adjustments.append(DEVELOPER_ANNOUNCEMENT)


def merge_runs(body: dict[str, Any], adjustments: list[str]) -> None:
    """Join runs of consecutive user (or assistant) messages in `body["messages"]`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return
    if not any(_mergeable(a) and _mergeable(b) and a["role"] == b["role"]
               for a, b in zip(messages, messages[1:], strict=False)):
        return  # the usual case: nothing built
    out: list[Any] = []
    for m in messages:
        prev = out[-1] if out else None
        if prev is not None and _mergeable(prev) and _mergeable(m) and prev["role"] == m["role"]:
            a, b = prev["content"], m["content"]
            content: Any = a + "\n\n" + b if isinstance(a, str) and isinstance(b, str) else _parts(a) + _parts(b)
            out[-1] = {**prev, "content": content}
        else:
            out.append(m)
    body["messages"] = out
    adjustments.append(ANNOUNCEMENT)


def _mergeable(m: Any) -> bool:
    # An assistant turn with tool calls is answered by tool messages: it never joins another.
    return (isinstance(m, dict) and m.get("role") in ("user", "assistant")
            and not m.get("tool_calls") and isinstance(m.get("content"), (str, list)))


def _parts(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
