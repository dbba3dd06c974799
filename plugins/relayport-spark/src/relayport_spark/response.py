"""Reading Spark's answers: its `code` envelope, its tool calls, its missing finish reasons.

Spark differs from OpenAI on the way back in ways patching bytes cannot fix (an error inside a
200 body or stream), so calls are always translated and these readers run:
- `code` != 0 in a body or a chunk is an error (`relayport_spark.errors`); a moderation stop of
  output already streamed ends the stream with `finish_reason: "content_filter"` instead;
- `tool_calls` may be one object instead of a list, and stream deltas carry no `index`;
- v1 streams end with `[DONE]` and no `finish_reason` (usage rides on the last content chunk),
  v1 answers may carry none either: the finish is then `stop` (`tool_calls` after a call).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from relayport.model.chat import ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.model.stream import Finish, StreamEvent
from relayport.openai_compat import OpenAICompat, OpenAIStreamParser, parse_response
from relayport.wire.sse import DONE, SSEEvent
from relayport_spark.errors import CONTENT_FILTER, business_error

_OK = re.compile(rb'"code"\s*:\s*0\s*[,}]')


def _check(obj: dict[str, Any], vendor: str) -> None:
    code = obj.get("code")
    if isinstance(code, int) and code != 0:
        raise business_error(code, obj.get("message"), vendor)


def _tool_calls(holder: dict[str, Any]) -> bool:
    """A single tool-call object made a list, each call with its index (and an id)."""
    calls = holder.get("tool_calls")
    if calls is None:
        return False
    if isinstance(calls, dict):
        calls = holder["tool_calls"] = [calls]
    for i, call in enumerate(calls):
        if isinstance(call, dict):
            call.setdefault("index", i)
            call.setdefault("type", "function")
    return bool(calls)


def parse(compat: OpenAICompat, response: UpstreamResponse, vendor: str, model: str) -> ChatResponse:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "The vendor sent a response that is not JSON.") from None
    if isinstance(obj, dict):
        _check(obj, vendor)
        # The envelope's `code` and `message` said "success": not the client's business. `sid`
        # (Spark's request id, what its support asks for) stays.
        obj.pop("code", None)
        obj.pop("message", None)
        if not obj.get("model"):
            obj["model"] = model
        for choice in obj.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            called = isinstance(message, dict) and _tool_calls(message)
            if isinstance(message, dict) and called:
                for i, call in enumerate(message["tool_calls"]):
                    call.pop("index", None)
                    call.setdefault("id", f"call_{obj.get('sid', 'spark')}_{i}")
            if isinstance(choice, dict) and not choice.get("finish_reason"):
                choice["finish_reason"] = "tool_calls" if called else "stop"
    return parse_response(compat, UpstreamResponse(response.status, response.headers, orjson.dumps(obj)))


class SparkStreamParser(OpenAIStreamParser):
    """The base parser with Spark's envelope checked and its chunks made OpenAI's; chunks that
    need nothing (the usual text chunk) go through untouched."""

    def __init__(self, compat: OpenAICompat, vendor: str) -> None:
        super().__init__(compat)
        self._vendor = vendor
        self._calls = 0
        self._output = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data
        if data == DONE:
            tail: list[StreamEvent] = []
            if not self._finished:  # v1 never says why it stopped
                tail.append(Finish("tool_calls" if self._calls else "stop", None))
            return tail + super().feed(event)
        if not data or (_OK.search(data) and b'"tool_calls"' not in data):
            self._output = True
            return super().feed(event)
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "The vendor sent a stream event that is not JSON.") from None
        code = obj.get("code") if isinstance(obj, dict) else None
        if isinstance(code, int) and code != 0:
            if code in CONTENT_FILTER and self._output:
                self._done = True
                return [Finish("content_filter", str(code))]
            raise business_error(code, obj.get("message"), self._vendor)
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            if isinstance(calls, dict):
                calls = delta["tool_calls"] = [calls]  # type: ignore[index]
            for call in calls or ():
                # No index on the wire: a piece naming a function starts the next call,
                # any other piece continues the last one.
                if call.get("id") or (call.get("function") or {}).get("name"):
                    self._calls += 1
                    call.setdefault("id", f"call_{obj.get('sid', 'spark')}_{self._calls - 1}")
                call.setdefault("type", "function")
                call["index"] = max(self._calls - 1, 0)
        self._output = True
        return super().feed(SSEEvent(orjson.dumps(obj)))
