"""Vendors' server tools (tools the vendor runs itself) requested from the OpenAI chat surface.

A client lists them in `tools` by type, beside its function tools::

    {"type": "code_execution"}   {"type": "web_search"}   {"type": "web_fetch"}
    {"type": "google_search"}    {"type": "url_context"}  {"type": "computer_use"}
    {"type": "code_interpreter"}

A provider runs the ones it names in its capabilities as ``"tool:<type>"``; its plugin maps
them to the vendor's spelling (Claude's versioned server tools and beta headers, Gemini's
`codeExecution`/`googleSearch`/`urlContext`, DashScope's `enable_code_interpreter`). Anywhere
else such a tool is a 400 naming it, instead of a vendor error or a silently different answer.
``web_search`` on a vendor that searches through a flag (`enable_search`), or when the gateway's
own search tool is on (`relayport.search_tool`), becomes `enable_search`.

What the tools did comes back on the assistant message as ``server_tool_calls`` (docs/tools.md):
``{"id", "type", "name", "input", "output"}`` per call, in order; in streams, as deltas of the
same list merged by ``index``.
"""

from __future__ import annotations

import re
from typing import Any

from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.provider import Deployment
from relayport.search_tool import native_search

SERVER_TOOLS = frozenset({"code_execution", "web_search", "web_fetch", "google_search", "url_context",
                          "computer_use", "code_interpreter"})
_PLAIN = frozenset({"function", "custom"})
# Claude's versioned names (`code_execution_20250825`), OpenAI's `web_search_preview`.
_VERSION = re.compile(r"(_preview)?(_\d{8}|_\d{4}_\d{2}_\d{2})?$")


def base_type(kind: str) -> str:
    """`code_execution_20250825` -> `code_execution`; `web_search_preview` -> `web_search`."""
    return _VERSION.sub("", kind)


def asked(request: ChatRequest) -> bool:
    """Whether a call may bring server-tool results back (worth a plugin's closer reading)."""
    if request.enable_search:
        return True
    tools = request.tools
    if not tools:
        return False  # the usual call: no generator to make
    return any(t.type != "function" for t in tools)


def check(body: dict[str, Any], deployment: Deployment, gateway_search: bool) -> None:
    """Refuse server tools the model's vendor does not run (400), and turn a `web_search` tool
    into `enable_search` where search is switched on by a flag rather than a tool."""
    tools = body.get("tools")
    if not isinstance(tools, list) or all(type(t) is not dict or t.get("type", "function") in _PLAIN
                                          for t in tools):
        return  # function tools only: the usual call, checked in one pass
    caps = deployment.provider.capabilities
    keep: list[Any] = []
    for i, t in enumerate(tools):
        kind = t.get("type") if isinstance(t, dict) else None
        if not isinstance(kind, str) or kind in ("function", "custom"):
            keep.append(t)
            continue
        name = base_type(kind)
        if name not in SERVER_TOOLS or f"tool:{name}" in caps:
            keep.append(t)
            continue
        if name == "web_search" and (gateway_search or native_search(deployment)):
            body["enable_search"] = True
            continue
        raise GatewayError(
            400, f"The {name} tool is not available for model '{deployment.name}': its vendor "
                 f"'{deployment.provider.name}' does not run it.{_who(name)}",
            param=f"tools[{i}]", code="unsupported_tool")
    if len(keep) != len(tools):
        if keep:
            body["tools"] = keep
        else:
            del body["tools"]
            body.pop("tool_choice", None)


_RUNS = {
    "code_execution": "Claude and Gemini models",
    "web_search": "Claude models, or any model with enable_search",
    "web_fetch": "Claude models",
    "google_search": "Gemini models",
    "url_context": "Gemini models",
    "computer_use": "Gemini computer-use models",
    "code_interpreter": "Qwen (DashScope) models",
}


def _who(name: str) -> str:
    return f" It runs on {_RUNS[name]}." if name in _RUNS else ""
