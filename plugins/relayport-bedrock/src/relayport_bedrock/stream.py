"""ConverseStream (`application/vnd.amazon.eventstream`) -> canonical stream events.

Each frame is one event, named by its `:event-type` header, with a JSON payload:
`messageStart`, `contentBlockStart` (a tool call's id and name), `contentBlockDelta` (text,
tool input JSON text, reasoning text or signature), `contentBlockStop`, `messageStop` (the stop
reason) and last `metadata` (usage). A failure after the stream began is an exception frame
(`:message-type: exception`, `:exception-type: modelStreamErrorException`...).
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.stream import (
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.wire.eventstream import EventStreamDecoder
from relayport.wire.sse import SSEEvent
from relayport_bedrock import errors, vocab
from relayport_bedrock.usage import decode_usage


class ConverseStreamParser:
    framing = "bytes"

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = "chatcmpl-" + secrets.token_hex(12)  # ConverseStream names no id
        self._frames = EventStreamDecoder(vocab.PROVIDER)
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool call index
        self._started = False
        self._stopped = False
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for frame in self._frames.feed(event.data):
            if frame.message_type != "event":
                # After what the same read carried before it, which the client still gets.
                out.append(StreamError(errors.frame_error(frame.name, frame.payload)))
                break
            try:
                obj = orjson.loads(frame.payload) if frame.payload else {}
            except orjson.JSONDecodeError:
                raise GatewayError(502, "bedrock: a stream event is not JSON.",
                                   code="upstream_malformed_stream") from None
            self._event(frame.name, obj, out)
            if self._done:
                break
        return out

    def _event(self, name: str, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        if not self._started:
            self._started = True
            out.append(StreamStart(self._id, self._model))
        if name == "contentBlockDelta":
            delta = obj.get("delta") or {}
            if "text" in delta:
                out.append(TextDelta(delta["text"]))
            elif "toolUse" in delta:
                index = self._tool_index(obj)
                out.append(ToolCallDelta(index, arguments=str((delta["toolUse"] or {}).get("input") or "")))
            elif "reasoningContent" in delta:
                rc = delta["reasoningContent"] or {}
                if "text" in rc:
                    out.append(ReasoningDelta(rc["text"]))
                elif "signature" in rc:
                    out.append(ReasoningSignature(rc["signature"]))
                elif "redactedContent" in rc:
                    out.append(RedactedReasoning(rc["redactedContent"]))
        elif name == "contentBlockStart":
            use = (obj.get("start") or {}).get("toolUse")
            if isinstance(use, dict):
                block = obj.get("contentBlockIndex", len(self._tools))
                self._tools[block] = len(self._tools)
                out.append(ToolCallDelta(self._tools[block], id=str(use.get("toolUseId") or ""),
                                         name=str(use.get("name") or "")))
        elif name == "messageStop":
            self._stopped = True
            raw = obj.get("stopReason")
            out.append(Finish(vocab.finish_reason(raw), raw if isinstance(raw, str) else None))
        elif name == "metadata":
            usage = obj.get("usage")
            if isinstance(usage, dict):
                out.append(UsageUpdate(decode_usage(usage)))
            if self._stopped:
                self._done = True  # metadata follows messageStop: the stream is complete

    def _tool_index(self, obj: dict[str, Any]) -> int:
        block = obj.get("contentBlockIndex")
        if block not in self._tools:  # a delta without its start: still one stable call
            self._tools[block] = len(self._tools)
        return self._tools[block]

    def close(self) -> list[StreamEvent]:
        if self._frames.pending:
            raise GatewayError(502, "bedrock: the vendor's stream broke off mid-frame.",
                               code="upstream_malformed_stream")
        if not self._stopped:
            raise GatewayError(502, "bedrock: the vendor's stream ended before the model finished.",
                               code="upstream_malformed_stream")
        self._done = True
        return []
