"""Claude's server tools for clients of other surfaces (OpenAI chat), and what they did.

Requests: the generic tool types (`relayport.server_tools`) become Claude's versioned server
tools, with the `anthropic-beta` value each one needs::

    {"type": "code_execution"}  -> {"type": "code_execution_20250825", "name": "code_execution"}
                                   + anthropic-beta: code-execution-2025-08-25
    {"type": "web_search", "max_uses": 3, ...}
                                -> {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    {"type": "web_fetch", ...}  -> {"type": "web_fetch_20250910", "name": "web_fetch", ...}
                                   + anthropic-beta: web-fetch-2025-09-10

Claude's own versioned types sent as given still get their beta header, on the OpenAI surface
and on `/v1/messages` passthrough alike (`betas`).

Answers: Claude's `server_tool_use` blocks and their `*_tool_result` blocks become the message's
`server_tool_calls` (`{"id", "type", "name", "input", "output"}`: `output` is the result block's
`content` as Claude sent it), and web search citations on text become OpenAI `url_citation`
annotations over the cited text. In streams each call is two `server_tool_calls` deltas (the
call when its input is complete, then its output), merged by `index`, and a cited text block's
`citations_delta`s become one `annotations` delta when the block ends (its extent known then).
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport import server_tools
from relayport.model.chat import ChatResponse, Tool
from relayport.model.content import TextBlock
from relayport.model.stream import DeltaExtra, StreamEvent, TextDelta
from relayport.wire.sse import SSEEvent
from relayport_anthropic.stream import AnthropicStreamParser

# generic type -> (Claude's tool type, the beta it needs, the options Claude takes)
TOOLS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "code_execution": ("code_execution_20250825", "code-execution-2025-08-25", ()),
    "web_search": ("web_search_20250305", None,
                   ("max_uses", "allowed_domains", "blocked_domains", "user_location")),
    "web_fetch": ("web_fetch_20250910", "web-fetch-2025-09-10",
                  ("max_uses", "allowed_domains", "blocked_domains", "citations", "max_content_tokens")),
}
BETAS = {"code_execution_20250522": "code-execution-2025-05-22",
         "code_execution_20250825": "code-execution-2025-08-25",
         "web_fetch_20250910": "web-fetch-2025-09-10"}
# The tool a server_tool_use name belongs to (code execution runs as bash / text editor calls).
_TOOL_OF = {"bash_code_execution": "code_execution", "text_editor_code_execution": "code_execution",
            "code_execution": "code_execution", "web_search": "web_search", "web_fetch": "web_fetch"}


def encode(t: Tool) -> tuple[dict[str, Any], str | None] | None:
    """Claude's declaration of a server tool and the beta it needs; None for other tools."""
    spec = TOOLS.get(t.type)
    if spec is not None:
        kind, beta, options = spec
        out: dict[str, Any] = {"type": kind, "name": t.type}
        for key in (*options, "cache_control"):
            if key in t.extra:
                out[key] = t.extra[key]
        return out, beta
    if t.type in BETAS:
        return dict(t.extra), BETAS[t.type]
    return None


def betas(body: dict[str, Any]) -> list[str]:
    """The betas the server tools of an Anthropic client's own body need (clients of
    aggregators often leave the header out); the client's own `anthropic-beta` is kept too."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [BETAS[t["type"]] for t in tools if isinstance(t, dict) and t.get("type") in BETAS]


requested = server_tools.asked


def surface(resp: ChatResponse, body: bytes) -> ChatResponse:
    """Put the server tool blocks and web citations of Claude's answer on the message."""
    try:
        content = orjson.loads(body).get("content")
    except (orjson.JSONDecodeError, AttributeError):
        return resp
    if not isinstance(content, list) or not resp.choices:
        return resp
    calls: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    notes: list[dict[str, Any]] = []
    offset = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text = block.get("text") or ""
            for c in block.get("citations") or ():
                if isinstance(c, dict) and c.get("url"):
                    notes.append({"type": "url_citation", "url_citation": {
                        "start_index": offset, "end_index": offset + len(text), "url": c["url"],
                        "title": c.get("title") or ""}})
            offset += len(text)
        elif kind == "server_tool_use":
            call = _call(block)
            calls.append(call)
            by_id[call["id"]] = call
        elif isinstance(kind, str) and kind.endswith("_tool_result") and block.get("tool_use_id"):
            found = by_id.get(str(block["tool_use_id"]))
            if found is None:
                found = {"id": str(block["tool_use_id"]), "type": _result_tool(kind), "name": None, "input": None}
                calls.append(found)
            found["output"] = block.get("content")
    message = resp.choices[0].message
    if calls:
        message.extra["server_tool_calls"] = calls
    if notes:
        message.extra["annotations"] = notes
        for b in message.content:
            # The citations now live in the annotations; the content stays one string.
            if isinstance(b, TextBlock) and all(isinstance(c, dict) and c.get("url")
                                                for c in b.extra.get("citations") or ()):
                b.extra.pop("citations", None)
    return resp


def _call(block: dict[str, Any]) -> dict[str, Any]:
    name = str(block.get("name") or "")
    return {"id": str(block.get("id") or ""), "type": _TOOL_OF.get(name, name), "name": name,
            "input": block.get("input"), "output": None}


def _result_tool(kind: str) -> str:
    for name, tool in _TOOL_OF.items():
        if kind.startswith(name):
            return tool
    return kind.removesuffix("_tool_result")


class ServerToolStream(AnthropicStreamParser):
    """The stream parser for calls with server tools: their blocks become `server_tool_calls`
    deltas (see the module docstring); everything else parses as usual."""

    def __init__(self, prefill: str | None = None) -> None:
        super().__init__(prefill)
        self._server: dict[int, tuple[dict[str, Any], list[str]]] = {}  # block index -> call, input parts
        self._index: dict[str, int] = {}  # call id -> its position in server_tool_calls
        self._cited: dict[int, list[dict[str, Any]]] = {}  # text block index -> its web citations
        self._starts: dict[int, int] = {}  # text block index -> where its text starts in the message
        self._offset = 0  # characters of answer text so far

    # Text blocks are marked where they start and stop, and the marks resolved to offsets once
    # the text events between them are counted: the fast path joins text deltas outside `_delta`.

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        return self._resolve(super().feed(event))

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        return self._resolve(super().feed_sse(data))

    def _resolve(self, events: list[StreamEvent]) -> list[StreamEvent]:
        if not any(type(ev) is _Mark for ev in events):
            for ev in events:
                if type(ev) is TextDelta:
                    self._offset += len(ev.text)
            return events
        out: list[StreamEvent] = []
        for ev in events:
            if type(ev) is _Mark:
                if ev.cites is None:
                    self._starts[ev.index] = self._offset
                elif ev.cites:
                    start = self._starts.pop(ev.index, self._offset)
                    out.append(DeltaExtra({"annotations": [
                        {"type": "url_citation", "url_citation": {"start_index": start, "end_index": self._offset,
                                                                  "url": c["url"], "title": c.get("title") or ""}}
                        for c in ev.cites]}))
                continue
            if type(ev) is TextDelta:
                self._offset += len(ev.text)
            out.append(ev)
        return out

    def _block_start(self, obj: dict[str, Any]) -> list[StreamEvent]:
        block = obj.get("content_block") or {}
        kind = block.get("type")
        if kind == "server_tool_use":
            call = _call(block)
            self._server[obj.get("index", -1)] = (call, [])
            self._index[call["id"]] = len(self._index)
            return []
        if isinstance(kind, str) and kind.endswith("_tool_result") and block.get("tool_use_id"):
            call_id = str(block["tool_use_id"])
            n = self._index.setdefault(call_id, len(self._index))
            return [DeltaExtra({"server_tool_calls": [
                {"index": n, "id": call_id, "output": block.get("content")}]})]
        if kind == "text" and isinstance(block.get("citations"), list):
            index = obj.get("index", -1)
            self._cited[index] = []
            return [_Mark(index, None), *super()._block_start(obj)]
        return super()._block_start(obj)

    def _delta(self, obj: dict[str, Any], delta: dict[str, Any], dtype: Any) -> list[StreamEvent]:
        server = self._server.get(obj.get("index", -1))
        if server is not None:
            if dtype == "input_json_delta" and delta.get("partial_json"):
                server[1].append(delta["partial_json"])
            return []
        if dtype == "citations_delta":
            cites = self._cited.get(obj.get("index", -1))
            citation = delta.get("citation")
            if cites is not None and isinstance(citation, dict) and citation.get("url"):
                cites.append(citation)
            return []
        return super()._delta(obj, delta, dtype)

    def _block_stop(self, index: int) -> list[StreamEvent]:
        cites = self._cited.pop(index, None)
        if cites is not None:
            return [*super()._block_stop(index), _Mark(index, cites)]
        server = self._server.pop(index, None)
        if server is None:
            return super()._block_stop(index)
        call, parts = server
        if parts:
            try:
                call["input"] = orjson.loads("".join(parts))
            except orjson.JSONDecodeError:
                call["input"] = "".join(parts)
        call.pop("output")
        return [DeltaExtra({"server_tool_calls": [{"index": self._index[call["id"]], **call}]})]


class _Mark:
    """Where a cited text block starts (`cites` None) or ends (its citations); never leaves
    the parser (`ServerToolStream._resolve`)."""

    __slots__ = ("index", "cites")

    def __init__(self, index: int, cites: list[dict[str, Any]] | None) -> None:
        self.index = index
        self.cites = cites
