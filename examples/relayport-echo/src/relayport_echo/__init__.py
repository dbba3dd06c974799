"""An example vendor plugin for a made-up vendor, "Echo", whose API is not OpenAI-shaped.

Echo's API (what a real plugin would take from the vendor's docs):
- ``POST {base_url}/generate`` with ``{"model", "input": [{"who": "sys|user|bot", "text"}],
  "limit", "stream"}`` and the key in an ``X-Echo-Key`` header;
- answer ``{"id", "output", "done": "complete|cut", "tokens": {"in", "out"}}``;
- stream: JSON lines ``{"delta": "..."}`` then ``{"done": "...", "tokens": {...}}``;
- errors: ``{"problem": "...", "retry": bool}`` with an HTTP status.

Every hook is synchronous and pure: data in, data out. The core does the HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.model import (
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    GatewayError,
    Message,
    StreamEvent,
    StreamStart,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    UpstreamRequest,
    UpstreamResponse,
    Usage,
    UsageUpdate,
)
from relayport.provider import Deployment, ProviderSpec
from relayport.wire.sse import SSEEvent

ECHO = ProviderSpec(
    name="echo",
    base_url="https://api.echo.example",
    key_env=("ECHO_API_KEY",),
    auth="header:X-Echo-Key",
    model_patterns=("echo-*",),
    capabilities=frozenset({"chat", "stream"}),
    description="Example vendor with a non-OpenAI wire format",
)

_WHO = {"system": "sys", "developer": "sys", "user": "user", "assistant": "bot", "tool": "user"}
_FINISH = {"complete": "stop", "cut": "length"}


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ECHO)


def _text(message: Message) -> str:
    parts = []
    for block in message.content:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, ToolResultBlock):
            parts.extend(b.text for b in block.content if isinstance(b, TextBlock))
        else:
            raise GatewayError(400, f"Echo takes text only, not {type(block).__name__}.", param="messages")
    return "".join(parts)


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    body: dict[str, Any] = {
        "model": deployment.model,
        "input": [{"who": _WHO[m.role], "text": _text(m)} for m in request.messages],
        "stream": request.stream,
    }
    if request.max_tokens is not None:
        body["limit"] = request.max_tokens
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    return UpstreamRequest("POST", deployment.url("/generate"), headers, orjson.dumps(body), stream=request.stream)


def _usage(tokens: dict[str, Any] | None) -> Usage | None:
    if not tokens:
        return None
    return Usage(input_tokens=int(tokens.get("in", 0)), output_tokens=int(tokens.get("out", 0)))


@hookimpl
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse:
    obj = orjson.loads(response.body)
    message = Message("assistant", [TextBlock(obj.get("output", ""))])
    return ChatResponse(
        id=str(obj.get("id", "echo")),
        model=deployment.model,
        choices=[Choice(message, _FINISH.get(obj.get("done", ""), "stop"))],
        usage=_usage(obj.get("tokens")),
    )


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None  # not Echo's envelope: let the core's generic mapping read it
    if not isinstance(obj, dict) or "problem" not in obj:
        return None
    return GatewayError(response.status, f"echo: {obj['problem']}", retryable=bool(obj.get("retry")))


class EchoStreamParser:
    framing = "lines"

    def __init__(self, model: str) -> None:
        self.model = model
        self._done = False
        self._started = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        obj = orjson.loads(event.data)
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(StreamStart(id="echo-stream", model=self.model))
        if "problem" in obj:
            raise GatewayError(502, f"echo: {obj['problem']}")
        if "delta" in obj:
            events.append(TextDelta(obj["delta"]))
        if "done" in obj:
            usage = _usage(obj.get("tokens"))
            if usage is not None:
                events.append(UsageUpdate(usage))
            events.append(Finish(_FINISH.get(obj["done"], "stop"), obj["done"]))
            self._done = True
        return events

    def close(self) -> list[StreamEvent]:
        if not self._done:
            raise GatewayError(502, "echo: the stream ended before it was done.")
        return []


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> EchoStreamParser:
    return EchoStreamParser(deployment.model)
