"""What a Qianfan v2 chat body needs beyond the OpenAI-compatible base, on both paths.

- web search is the `web_search` object (`enable`, `enable_trace` for the sources, which come
  back in a top-level `search_results` list); a client's own `web_search` is left alone;
- Qianfan refuses a conversation whose roles do not alternate (user/assistant, user/tool with
  tools): runs of consecutive user (or assistant) messages, which OpenAI accepts, are merged
  (`relayport.compat.roles`).
"""

from __future__ import annotations

from typing import Any

from relayport.compat.roles import developer_as_system, merge_runs


def adapt(body: dict[str, Any], search: bool | None, adjustments: list[str]) -> None:
    if search is not None and "web_search" not in body:
        body["web_search"] = {"enable": True, "enable_trace": True} if search else {"enable": False}
    developer_as_system(body, adjustments)
    merge_runs(body, adjustments)
