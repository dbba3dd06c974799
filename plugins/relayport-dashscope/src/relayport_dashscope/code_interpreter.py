"""Qwen's code interpreter for OpenAI clients: the code the model runs, not only its answer.

Qwen3 models (qwen3-max, qwen3.5-plus...) can write and run Python server-side, switched on by
DashScope's own `enable_code_interpreter: true` (or the generic `{"type": "code_interpreter"}`
tool, `relayport.server_tools`). It needs thinking and only streams. DashScope's compatible
mode runs it but does not say what code ran, so such calls go to the native generation API
(`X-DashScope-SSE`, `incremental_output`), whose events carry the code in `output.tool_info`.

For the OpenAI client:
- the thinking before and after each run is `reasoning_content`, as DashScope documents it,
  and each run's code goes into it too, as a fenced ```python block, so any client shows it;
- each run is also a `server_tool_calls` item ``{"id", "type": "code_interpreter",
  "name": "code_interpreter", "input": {"code"}}`` (stream deltas merged by `index`; the
  vendor does not return the run's output, the model's reasoning reads it);
- the answer is `content`; a non-streaming call is streamed upstream and joined.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from relayport.model.chat import ChatRequest, ChatResponse, Choice, Message
from relayport.model.content import TextBlock, ThinkingBlock
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.stream import (
    DeltaExtra,
    Finish,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    UsageUpdate,
)
from relayport.model.usage import Usage
from relayport.provider import Deployment
from relayport.wire import openai_chat
from relayport.wire.sse import SSEEvent, payloads
from relayport_dashscope import native
from relayport_dashscope.errors import error_from_event
from relayport_dashscope.hosts import native_url

SWITCH = "enable_code_interpreter"
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
# Sampling fields that mean the same in the native `parameters`.
_PARAMETERS = ("temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty")


def wanted(body: dict[str, Any]) -> bool:
    """An OpenAI body that asks for the code interpreter."""
    return body.get(SWITCH) is True or any(
        isinstance(t, dict) and t.get("type") == "code_interpreter" for t in body.get("tools") or ())


def requested(request: ChatRequest) -> bool:
    return request.extra.get(SWITCH) is True or any(t.type == "code_interpreter" for t in request.tools or ())


def build_request(dep: Deployment, request: ChatRequest) -> UpstreamRequest:
    """The native streaming call with the interpreter (and the thinking it needs) on."""
    encoded = openai_chat.encode_request(request, dep.model)
    params: dict[str, Any] = {SWITCH: True, "enable_thinking": True, "result_format": "message",
                              "incremental_output": True}
    for key in _PARAMETERS:
        if key in encoded:
            params[key] = encoded[key]
    functions = [t for t in encoded.get("tools") or () if t.get("type") == "function"]
    if functions:
        params["tools"] = functions
    messages = encoded["messages"]
    body = {"model": dep.model, "input": {"messages": messages}, "parameters": params}
    headers = dep.auth_headers()
    headers.update({"Content-Type": "application/json", "X-DashScope-SSE": "enable",
                    "Accept": "text/event-stream"})
    notes = [] if request.thinking is None or request.thinking.enabled is not False else \
        ["thinking on: the code interpreter needs it"]
    if not request.stream:
        notes.append("streamed upstream and joined: the code interpreter only streams")
    url = native_url(dep, native.endpoint(dep.model, messages, dep.options))
    return UpstreamRequest("POST", url, headers, orjson.dumps(body), stream=True, adjustments=notes)


class CodeInterpreterStream:
    """Native generation events of a code-interpreter call -> canonical events."""

    framing = "sse"

    def __init__(self) -> None:
        self._done = False
        self._started = False
        self._runs: list[Any] = []  # tool_info entries already told (DashScope repeats them)

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        return self._events(event.data)

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for payload in payloads(data):
            out.extend(self._events(payload))
            if self._done:
                break
        return out

    def _events(self, data: bytes) -> list[StreamEvent]:
        if not data:
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._done = True
            return [StreamError(error_from_event({"message": "a stream event that is not JSON"}))]
        if not isinstance(obj, dict):
            return []
        output = obj.get("output")
        if not isinstance(output, dict):
            self._done = True  # the native error event: {"code", "message", "request_id"}
            return [StreamError(error_from_event(obj))]
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(StreamStart(str(obj.get("request_id") or ""), ""))
        for info in output.get("tool_info") or ():
            if info in self._runs or not isinstance(info, dict):
                continue
            code = str((info.get("code_interpreter") or {}).get("code") or "")
            n = len(self._runs)
            self._runs.append(info)
            out.append(ReasoningDelta(f"\n```python\n{code}\n```\n"))
            out.append(DeltaExtra({"server_tool_calls": [{
                "index": n, "id": f"ci_{n}", "type": "code_interpreter", "name": "code_interpreter",
                "input": {"code": code}}]}))
        choices = output.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        if message.get("reasoning_content"):
            out.append(ReasoningDelta(str(message["reasoning_content"])))
        content = message.get("content")
        if isinstance(content, list):  # the multimodal endpoint's [{"text"}]
            content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
        if content:
            out.append(TextDelta(str(content)))
        finish = choice.get("finish_reason")
        if finish and finish != "null":
            usage = native.usage_of(obj)
            if usage is not None:
                out.append(UsageUpdate(usage))
            out.append(Finish(_FINISH.get(str(finish), "stop"), str(finish)))
            self._done = True
        return out

    def close(self) -> list[StreamEvent]:
        if not self._done:
            return [StreamError(error_from_event({"message": "the stream ended before the answer did"}))]
        return []


def join(response: UpstreamResponse, model: str) -> ChatResponse:
    """A non-streaming client's answer, from the whole native stream."""
    parser = CodeInterpreterStream()
    events = parser.feed_sse(response.body.replace(b"\r\n", b"\n")) + parser.close()
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    usage: Usage | None = None
    finish = "stop"
    rid = ""
    for ev in events:
        if isinstance(ev, TextDelta):
            text.append(ev.text)
        elif isinstance(ev, ReasoningDelta):
            reasoning.append(ev.text)
        elif isinstance(ev, DeltaExtra):
            calls.extend({k: v for k, v in c.items() if k != "index"} for c in ev.fields["server_tool_calls"])
        elif isinstance(ev, UsageUpdate):
            usage = ev.usage
        elif isinstance(ev, Finish):
            finish = ev.reason
        elif isinstance(ev, StreamStart):
            rid = ev.id
        elif isinstance(ev, StreamError):
            raise ev.error
    blocks: list[Any] = []
    if reasoning:
        blocks.append(ThinkingBlock("".join(reasoning)))
    blocks.append(TextBlock("".join(text)))
    message = Message("assistant", blocks)
    if calls:
        message.extra["server_tool_calls"] = calls
    return ChatResponse(id=rid or "chatcmpl-" + secrets.token_hex(12), model=model,
                        choices=[Choice(message, finish)], usage=usage)
