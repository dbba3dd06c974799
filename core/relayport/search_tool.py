"""Web search as a tool for models whose vendor cannot search the web.

With ``[search] service = "serper"`` and ``as_tool = true``, a chat call that asks for search
(``enable_search: true``, OpenAI's ``web_search_options``, or the Responses ``web_search``
tool) on a model whose provider lacks the "search" capability runs one search through the
configured service (`relayport.webservices`) on the last user message, gives the model the
numbered results in a system message, and asks it to cite them as ``[n]``. The answer carries
OpenAI's ``url_citation`` annotations for the markers it wrote (``message.annotations``; in a
stream, one chunk with ``delta.annotations`` before the finish). Such calls are translated,
never passed through, so the answer can be read; they cost other calls nothing.

Without the switch, ``enable_search`` on such models is dropped and the answer says so in
``x-relayport-adjustments`` ("enable_search ignored (no web search for this model)").
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from aiohttp import web

from relayport.config import Config, ConfigError
from relayport.model.chat import ChatRequest, Message
from relayport.model.content import TextBlock
from relayport.model.errors import GatewayError
from relayport.model.http import ADJUSTMENTS_HEADER
from relayport.provider import Deployment
from relayport.webservices import SearchResult, ServiceRegistry

_CITE = re.compile(r"\[(\d{1,2})\]")
_MAX_QUERY = 400


def native_search(dep: Deployment) -> bool:
    """Whether the deployment's vendor searches the web itself when asked."""
    compat = dep.provider.openai_compat
    return "search" in dep.provider.capabilities or (compat is not None and compat.search_field is not None)


@attrs.define
class Search:
    """One call's search: what was searched and found, and what to tell the client."""

    query: str
    results: list[SearchResult]
    note: str

    def annotations(self, text: str) -> list[dict[str, Any]]:
        """Chat Completions' `url_citation` annotations for the `[n]` markers in `text`."""
        return [{"type": "url_citation", "url_citation": c} for c in self.citations(text)]

    def output_annotations(self, text: str) -> list[dict[str, Any]]:
        """The Responses API's (flat) `url_citation` annotations for the same markers."""
        return [{"type": "url_citation", **c} for c in self.citations(text)]

    def brief(self, chat: ChatRequest) -> None:
        """Give the model the numbered results (a system message after the leading ones)."""
        if self.results:
            lead = sum(1 for _ in _leading_system(chat.messages))
            chat.messages.insert(lead, Message("system", [TextBlock(_instructions(self.query, self.results))]))

    def citations(self, text: str) -> list[dict[str, Any]]:
        out = []
        for m in _CITE.finditer(text):
            n = int(m.group(1))
            if 1 <= n <= len(self.results):
                r = self.results[n - 1]
                out.append({"start_index": m.start(), "end_index": m.end(), "url": r.url, "title": r.title})
        return out


@attrs.define
class SearchTool:
    registry: ServiceRegistry
    service: str
    count: int

    @staticmethod
    def wanted(body: dict[str, Any]) -> bool:
        return body.get("enable_search") is True or "web_search_options" in body

    @staticmethod
    def applies(deployment: Deployment) -> bool:
        return not native_search(deployment)

    async def augment(self, request: web.Request, chat: ChatRequest) -> Search:
        """Search on the last user message and put the results before the conversation."""
        from relayport.server.keys import GATEWAY

        chat.enable_search = None
        chat.extra.pop("web_search_options", None)
        query = next((m.text() for m in reversed(chat.messages) if m.role == "user"), "").strip()[:_MAX_QUERY]
        if not query:
            return Search("", [], "web search skipped (no user text to search for)")
        try:
            results = await self.registry.search(request.app[GATEWAY], self.service, query, self.count)
        except GatewayError as exc:
            # The answer still comes, without results; the client is told why.
            return Search(query, [], f"web search failed ({exc.code or exc.status}); answered without it")
        search = Search(query, results, f"enable_search answered with {len(results)} {self.service} results")
        search.brief(chat)
        return search


def _leading_system(messages: list[Message]) -> Any:
    for m in messages:
        if m.role not in ("system", "developer"):
            return
        yield m


def _instructions(query: str, results: list[SearchResult]) -> str:
    lines = [f"Web search results for: {query}", ""]
    for i, r in enumerate(results, 1):
        lines.append(f"[{i}] {r.title} ({r.url})")
        if r.snippet:
            lines.append(r.snippet)
    lines += ["", "Use these results where they help answer the user. Cite a result by writing its "
                  "number in square brackets, e.g. [1], right after the statement it supports."]
    return "\n".join(lines)


def announce(headers: dict[str, str], note: str) -> None:
    """Add `note` to the answer's `x-relayport-adjustments`."""
    current = headers.get(ADJUSTMENTS_HEADER)
    headers[ADJUSTMENTS_HEADER] = f"{current}, {note}" if current else note


def search_tool(registry: ServiceRegistry, config: Config) -> SearchTool:
    """The search tool `[search]` asks for; a `ConfigError` when it cannot work."""
    name = config.search.service
    service = registry.services.get(name)
    if service is None or service.spec.search is None:
        usable = ", ".join(sorted(n for n, s in registry.services.items() if s.spec.search)) or "none installed"
        raise ConfigError(f"{config.source}: search.service: {name!r} is not an installed search service "
                          f"(installed: {usable}; relayport-serper provides \"serper\")")
    return SearchTool(registry, name, config.search.results)


SEARCH_TOOL: web.AppKey[SearchTool] = web.AppKey("relayport.search_tool")
