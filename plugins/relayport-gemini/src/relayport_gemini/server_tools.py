"""What Gemini's built-in tools did, for OpenAI clients; and the computer-use tool's settings.

Requests name the tools by type (`relayport.server_tools`): `code_execution`, `google_search`
(or `web_search`), `url_context` and `computer_use` become `codeExecution`, `googleSearch`,
`urlContext` and `computerUse` (`egress._BUILTIN_TOOLS`). `computer_use` takes
`environment` (default ENVIRONMENT_BROWSER) and `excluded_predefined_functions`; the model's
UI actions (`click_at`, `type_text_at`...) come back as ordinary tool calls the client runs.

Answers: the message's `server_tool_calls` lists, in order,
- each `executableCode` part as ``{"type": "code_execution", "name": "executable_code",
  "input": {"language", "code"}, "output": {"outcome", "output"}}`` (its `codeExecutionResult`);
- the searches of `groundingMetadata` as ``{"type": "google_search", "name": "google_search",
  "input": {"queries": [...]}, "output": {"sources": [{"uri", "title"}...]}}``;
- `urlContextMetadata` as ``{"type": "url_context", "name": "url_context", "output": {"urls": [...]}}``;
and `groundingSupports` become OpenAI `url_citation` annotations over the supported text.
Streams carry the code calls as `server_tool_calls` deltas merged by `index`.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport import server_tools
from relayport.model.chat import ChatResponse
from relayport.model.stream import DeltaExtra, StreamEvent
from relayport_gemini.stream import GeminiStreamParser


def default_config(key: str, extra: dict[str, Any]) -> dict[str, Any]:
    """A built-in tool's config from the OpenAI-style tool object's own fields."""
    if key != "computerUse":
        return {}
    conf: dict[str, Any] = {"environment": str(extra.get("environment") or "ENVIRONMENT_BROWSER")}
    excluded = extra.get("excluded_predefined_functions")
    if isinstance(excluded, list):
        conf["excludedPredefinedFunctions"] = excluded
    return conf


requested = server_tools.asked


def surface(resp: ChatResponse, body: bytes) -> ChatResponse:
    """Put the first candidate's code runs, searches, fetched URLs and citations on its message."""
    try:
        candidates = orjson.loads(body).get("candidates")
    except (orjson.JSONDecodeError, AttributeError):
        return resp
    if not isinstance(candidates, list) or not candidates or not resp.choices:
        return resp
    cand = candidates[0] if isinstance(candidates[0], dict) else {}
    parts = (cand.get("content") or {}).get("parts") or []
    calls = code_calls(parts)
    grounding = cand.get("groundingMetadata")
    message = resp.choices[0].message
    if isinstance(grounding, dict):
        sources = [c["web"] for c in grounding.get("groundingChunks") or ()
                   if isinstance(c, dict) and isinstance(c.get("web"), dict)]
        if grounding.get("webSearchQueries") or sources:
            calls.append({"id": f"srvtool_{len(calls)}", "type": "google_search", "name": "google_search",
                          "input": {"queries": grounding.get("webSearchQueries") or []},
                          "output": {"sources": sources}})
        notes = annotations(message.text(), grounding)
        if notes:
            message.extra["annotations"] = notes
    urls = cand.get("urlContextMetadata")
    if isinstance(urls, dict) and urls.get("urlMetadata"):
        calls.append({"id": f"srvtool_{len(calls)}", "type": "url_context", "name": "url_context",
                      "input": None, "output": {"urls": urls["urlMetadata"]}})
    if calls:
        message.extra["server_tool_calls"] = calls
    return resp


def code_calls(parts: list[Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for p in parts:
        if not isinstance(p, dict):
            continue
        if isinstance(p.get("executableCode"), dict):
            calls.append(_code_call(p["executableCode"], len(calls)))
        elif isinstance(p.get("codeExecutionResult"), dict) and calls:
            calls[-1]["output"] = _result(p["codeExecutionResult"])
    return calls


def _code_call(code: dict[str, Any], n: int) -> dict[str, Any]:
    return {"id": str(code.get("id") or f"srvtool_{n}"), "type": "code_execution", "name": "executable_code",
            "input": {"language": code.get("language"), "code": code.get("code")}, "output": None}


def _result(res: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": res.get("outcome"), "output": res.get("output")}


def annotations(text: str, grounding: dict[str, Any]) -> list[dict[str, Any]]:
    """`url_citation`s for `groundingSupports`; Gemini's segment offsets count UTF-8 bytes."""
    chunks = grounding.get("groundingChunks") or []
    data = text.encode()
    out: list[dict[str, Any]] = []
    for support in grounding.get("groundingSupports") or ():
        seg = support.get("segment") if isinstance(support, dict) else None
        if not isinstance(seg, dict):
            continue
        start = len(data[: int(seg.get("startIndex") or 0)].decode("utf-8", "ignore"))
        end = len(data[: int(seg.get("endIndex") or 0)].decode("utf-8", "ignore"))
        said = seg.get("text")
        if isinstance(said, str) and said and text[start:end] != said:
            found = text.find(said)
            if found < 0:
                continue
            start, end = found, found + len(said)
        for i in support.get("groundingChunkIndices") or ():
            web = chunks[i].get("web") if isinstance(i, int) and 0 <= i < len(chunks) else None
            if isinstance(web, dict) and web.get("uri"):
                out.append({"type": "url_citation", "url_citation": {
                    "start_index": start, "end_index": end, "url": web["uri"], "title": web.get("title") or ""}})
    return out


class ServerToolStream(GeminiStreamParser):
    """Streams of calls with built-in tools: code parts become `server_tool_calls` deltas."""

    def __init__(self, model: str = "") -> None:
        super().__init__(model)
        self._runs_seen = 0

    def _part(self, p: dict[str, Any], out: list[StreamEvent]) -> None:
        code = p.get("executableCode")
        if isinstance(code, dict):
            call = _code_call(code, self._runs_seen)
            call.pop("output")
            out.append(DeltaExtra({"server_tool_calls": [{"index": self._runs_seen, **call}]}))
            self._runs_seen += 1
            return
        res = p.get("codeExecutionResult")
        if isinstance(res, dict) and self._runs_seen:
            out.append(DeltaExtra({"server_tool_calls": [{"index": self._runs_seen - 1, "output": _result(res)}]}))
            return
        super()._part(p, out)
