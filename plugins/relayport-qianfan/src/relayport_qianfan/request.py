"""What a Qianfan v2 chat body needs beyond the OpenAI-compatible base, on both paths.

- web search is the `web_search` object (`enable`, `enable_trace` for the sources, which come
  back in a top-level `search_results` list); a client's own `web_search` is left alone;
- Qianfan refuses a conversation whose roles do not alternate (user/assistant, user/tool with
  tools): runs of consecutive user (or assistant) messages, which OpenAI accepts, are merged.
"""

from __future__ import annotations

from typing import Any


def adapt(body: dict[str, Any], search: bool | None, adjustments: list[str]) -> None:
    if search is not None and "web_search" not in body:
        body["web_search"] = {"enable": True, "enable_trace": True} if search else {"enable": False}
    messages = body.get("messages")
    if isinstance(messages, list) and len(messages) > 1:
        merged = _merge_runs(messages)
        if merged is not None:
            body["messages"] = merged
            adjustments.append("consecutive same-role messages merged")


def _mergeable(m: Any) -> bool:
    return (isinstance(m, dict) and m.get("role") in ("user", "assistant")
            and not m.get("tool_calls") and m.get("content") is not None)


def _parts(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _merge_runs(messages: list[Any]) -> list[Any] | None:
    """The messages with runs of one role joined, or None when there was no run (the usual case)."""
    if not any(_mergeable(a) and _mergeable(b) and a["role"] == b["role"]
               for a, b in zip(messages, messages[1:], strict=False)):
        return None
    out: list[Any] = []
    for m in messages:
        prev = out[-1] if out else None
        if prev is not None and _mergeable(prev) and _mergeable(m) and prev["role"] == m["role"]:
            a, b = prev["content"], m["content"]
            if isinstance(a, str) and isinstance(b, str):
                content: Any = a + "\n\n" + b
            else:
                content = _parts(a) + _parts(b)
            out[-1] = {**prev, "content": content}
        else:
            out.append(m)
    return out
