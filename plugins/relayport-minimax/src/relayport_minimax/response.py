"""MiniMax's answers -> canonical responses and stream events.

Errors first: a body or stream event whose `base_resp.status_code` is not 0 is a failure even
under HTTP 200. A stream ends with the whole message once more (an object of type
`chat.completion` with a `message`, not a `delta`) carrying the real usage; only its usage and,
when no delta had one, its finish reason are news. Intermediate chunks carry placeholder usage
(zeros), sometimes `"role": ""` or `"delta": null`, and the stream may end without `[DONE]`.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.chat import ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.model.stream import (
    Finish,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    UsageUpdate,
)
from relayport.wire import openai_chat
from relayport.wire.runs import FieldRuns
from relayport.wire.sse import DONE, SSEEvent, payloads
from relayport_minimax.errors import check_body
from relayport_minimax.reasoning import DetailsText, ThinkSplitter, fix_message

_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def finish_reason(value: Any, blocked: bool) -> str:
    """OpenAI's finish reason; output that tripped MiniMax's safety check is `content_filter`."""
    if blocked:
        return "content_filter"
    return value if value in _FINISH else "stop"


def parse(response: UpstreamResponse) -> ChatResponse:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "minimax: the answer is not JSON.") from None
    if not isinstance(obj, dict):
        raise GatewayError(502, "minimax: the answer is not a JSON object.")
    check_body(obj)
    obj.pop("base_resp", None)  # status 0: nothing left to say
    blocked = obj.get("output_sensitive") is True
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        raise GatewayError(502, "minimax: the answer has no choices.")
    for choice in choices:
        if isinstance(choice, dict):
            msg = choice.get("message")
            if isinstance(msg, dict):
                fix_message(msg)
            choice["finish_reason"] = finish_reason(choice.get("finish_reason"), blocked)
    # The content-safety fields (input_/output_sensitive and their types) stay at the top
    # level of what the client gets, as MiniMax sent them.
    return openai_chat.decode_response(obj)


def _placeholder(usage: Any) -> bool:
    return isinstance(usage, dict) and not usage.get("prompt_tokens") and not usage.get("completion_tokens")


class MiniMaxStreamParser:
    """One MiniMax chat stream -> canonical events."""

    framing = "sse"

    def __init__(self) -> None:
        self._decoder = openai_chat.ChunkDecoder()
        self._details = DetailsText()
        self._think = ThinkSplitter()
        self._done = False
        self._finished = False
        # A read's run of content chunks (alike but for the text) is decoded as one; reasoning
        # details are not joined: cumulative pieces must not be glued together.
        self._runs = FieldRuns("content")

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        try:
            return self._feed(event.data)
        except GatewayError:
            self._done = True
            raise

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        data = self._runs.merge(data)
        try:
            for payload in payloads(data):
                out.extend(self._feed(payload))
                if self._done:
                    break
        except GatewayError as exc:
            self._done = True  # what came before the failure in this read still goes out
            out.append(StreamError(exc))
        return out

    def close(self) -> list[StreamEvent]:
        if not self._finished:
            raise GatewayError(502, "minimax: the stream ended before the answer finished.")
        return self._flush()

    def _flush(self) -> list[StreamEvent]:
        reasoning, content = self._think.flush()
        out: list[StreamEvent] = [ReasoningDelta(reasoning)] if reasoning else []
        return out + [TextDelta(content)] if content else out

    def _feed(self, data: bytes) -> list[StreamEvent]:
        if data == DONE:
            self._done = True
            return self._flush()
        if not data:
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "minimax: a stream event is not JSON.") from None
        if not isinstance(obj, dict):
            return []
        if "base_resp" in obj or "error" in obj:
            check_body(obj, " (mid-stream)")
        if obj.get("object") == "chat.completion":
            return self._last_frame(obj)
        blocked = obj.get("output_sensitive") is True
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            details = delta.pop("reasoning_details", None)
            if details:
                delta["reasoning_content"] = (delta.get("reasoning_content") or "") + self._details.take(details)
            content = delta.get("content")
            if content and not self._think.passing:
                reasoning, delta["content"] = self._think.feed(content)
                if reasoning:
                    delta["reasoning_content"] = (delta.get("reasoning_content") or "") + reasoning
            if choice.get("finish_reason") or blocked:
                choice["finish_reason"] = finish_reason(choice.get("finish_reason"), blocked)
        if _placeholder(obj.get("usage")):
            obj["usage"] = None
        events = self._decoder.decode(obj)
        if events and isinstance(events[-1], (Finish, UsageUpdate)):
            return self._at_finish(events)
        return events

    def _at_finish(self, events: list[StreamEvent]) -> list[StreamEvent]:
        for i, ev in enumerate(events):
            if isinstance(ev, Finish):
                if self._finished:
                    return events[:i] + events[i + 1:]  # a second finish adds nothing
                self._finished = True
                return events[:i] + self._flush() + events[i:]
        return events

    def _last_frame(self, obj: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self._finished:
            choices = obj.get("choices") or [{}]
            first = choices[0] if isinstance(choices[0], dict) else {}
            events.extend(self._flush())
            events.append(Finish(finish_reason(first.get("finish_reason"), obj.get("output_sensitive") is True),
                                 first.get("finish_reason")))
            self._finished = True
        usage = obj.get("usage")
        if isinstance(usage, dict) and not _placeholder(usage):
            events.append(UsageUpdate(openai_chat.decode_usage(usage)))
        return events
