"""Anthropic Messages SSE stream -> canonical stream events.

One parser per stream. The hot path is `content_block_delta` with a text delta: one
`orjson.loads`, two dict lookups, one event object; everything else is rare.

Tool calls get a running counter as their index (what OpenAI clients expect), not the
Anthropic block index, which also counts text and thinking blocks.
"""

from __future__ import annotations

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
from relayport.wire.sse import SSEEvent, payloads
from relayport_anthropic import errors, vocab
from relayport_anthropic.textrun import TextRuns
from relayport_anthropic.usage import decode_usage, merge

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class _Tool:
    __slots__ = ("index", "has_args")

    def __init__(self, index: int) -> None:
        self.index = index
        self.has_args = False


class AnthropicStreamParser:
    framing = "sse"

    def __init__(self, prefill: str | None = None) -> None:
        # Text the request prefilled (see `jsonmode`): Claude's answer continues after it, so
        # it goes out at the start of the first text block.
        self._prefill = prefill
        self._done = False
        self._finished = False
        self._usage: dict[str, Any] = {}
        # Anthropic block index -> the tool call it carries (only tool_use blocks).
        self._tools: dict[int, _Tool] = {}
        # A signature that came whole in content_block_start (some compatible vendors do
        # that instead of sending a signature_delta); emitted when the block closes.
        self._signatures: dict[int, str] = {}
        self._runs = TextRuns()

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        obj = self._load(event.data)
        return [] if obj is None else self._handle(obj)

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        """Every whole event of one upstream read at once: the core's fast path. Runs of text
        deltas are joined before decoding (see `textrun`); Anthropic's JSON names its own
        type, so only each event's data is needed after that."""
        return self._feed_payloads(payloads(self._runs.merge(data)))

    def _feed_payloads(self, datas: list[bytes]) -> list[StreamEvent]:
        # Consecutive text deltas become one `TextDelta` (they arrived together, so nothing
        # waits), which spares an object and an output chunk per token downstream.
        out: list[StreamEvent] = []
        texts: list[str] = []
        for obj in self._load_all(datas):
            if type(obj) is not dict or "type" not in obj:
                continue
            if obj.get("type") == "content_block_delta":
                delta = obj.get("delta")
                if type(delta) is dict and delta.get("type") == "text_delta":
                    text = delta.get("text")
                    if text:
                        texts.append(text)
                    continue
            if texts:
                out.append(TextDelta("".join(texts)))
                texts = []
            out.extend(self._handle(obj))
            if self._done:
                break
        if texts:
            out.append(TextDelta("".join(texts)))
        return out

    def _load_all(self, events: list[bytes]) -> list[Any]:
        """Decode every event's JSON with one parser call (as a JSON array): per-call overhead
        is most of the cost for objects this small. Falls back to one by one when the array
        does not come out as one object per event (a malformed event)."""
        datas = [p for p in events if p]
        if not datas:
            return []
        try:
            objs = _loads(b"[" + b",".join(datas) + b"]")
            if len(objs) == len(datas):
                return objs  # type: ignore[no-any-return]
        except _JSONDecodeError:
            pass
        return [self._load(d) for d in datas]

    @staticmethod
    def _load(data: bytes) -> dict[str, Any] | None:
        if not data:
            return None
        try:
            obj = _loads(data)
        except _JSONDecodeError:
            raise GatewayError(502, "anthropic: the vendor sent a stream event that is not JSON.") from None
        return obj if type(obj) is dict and "type" in obj else None

    def _handle(self, obj: dict[str, Any]) -> list[StreamEvent]:
        kind = obj["type"]
        if kind == "content_block_delta":
            # The hot path. Direct indexing: a malformed delta is skipped by the except below.
            try:
                delta = obj["delta"]
                dtype = delta["type"]
                if dtype == "text_delta":
                    text = delta["text"]
                    return [TextDelta(text)] if text else []
                return self._delta(obj, delta, dtype)
            except (TypeError, KeyError):
                return []
        if kind == "content_block_start":
            return self._block_start(obj)
        if kind == "content_block_stop":
            return self._block_stop(obj.get("index", -1))
        if kind == "message_delta":
            return self._message_delta(obj)
        if kind == "message_start":
            msg = obj.get("message") or {}
            events: list[StreamEvent] = [StreamStart(str(msg.get("id") or ""), str(msg.get("model") or ""))]
            usage = msg.get("usage")
            if isinstance(usage, dict):
                self._usage = dict(usage)
                events.append(UsageUpdate(decode_usage(self._usage)))
            return events
        if kind == "message_stop":
            self._done = True
            return []
        if kind == "error":
            # Returned, not raised: events parsed earlier from the same upstream read (the
            # text before the failure) must still reach the client, and a raise loses them.
            self._done = True
            return [StreamError(errors.from_event(obj))]
        return []  # ping, and event types added after this was written

    def _delta(self, obj: dict[str, Any], delta: dict[str, Any], dtype: Any) -> list[StreamEvent]:
        if dtype == "input_json_delta":
            tool = self._tools.get(obj.get("index", -1))
            partial = delta.get("partial_json")
            if tool is None or not partial:
                return []  # server-tool input, or the empty first piece
            tool.has_args = True
            return [ToolCallDelta(tool.index, arguments=partial)]
        if dtype == "thinking_delta":
            text = delta.get("thinking")
            return [ReasoningDelta(text)] if text else []
        if dtype == "signature_delta":
            self._signatures.pop(obj.get("index", -1), None)
            return [ReasoningSignature(delta.get("signature") or "")]
        return []  # citations_delta and future delta types

    def _block_start(self, obj: dict[str, Any]) -> list[StreamEvent]:
        block = obj.get("content_block") or {}
        index = obj.get("index", -1)
        btype = block.get("type")
        if btype == "text":
            text = block.get("text")
            if self._prefill:
                text = self._prefill + (text or "")
                self._prefill = None
            return [TextDelta(text)] if text else []
        if btype == "thinking":
            if block.get("signature"):
                self._signatures[index] = block["signature"]
            text = block.get("thinking")
            return [ReasoningDelta(text)] if text else []
        if btype == "tool_use":
            tool = _Tool(len(self._tools))
            self._tools[index] = tool
            first = ToolCallDelta(tool.index, str(block.get("id") or ""), str(block.get("name") or ""))
            if block.get("input"):
                # Some Anthropic-compatible vendors send the whole input here, no deltas.
                first.arguments = orjson.dumps(block["input"]).decode()
                tool.has_args = True
            return [first]
        if btype == "redacted_thinking":
            return [RedactedReasoning(str(block.get("data") or ""))]
        return []  # server_tool_use, web_search_tool_result, ...: not for OpenAI clients

    def _block_stop(self, index: int) -> list[StreamEvent]:
        signature = self._signatures.pop(index, None)
        if signature is not None:
            return [ReasoningSignature(signature)]
        tool = self._tools.get(index)
        if tool is not None and not tool.has_args:
            # A call without arguments streams no input_json_delta; OpenAI clients json-parse
            # `arguments`, so give them an empty object rather than an empty string.
            tool.has_args = True
            return [ToolCallDelta(tool.index, arguments="{}")]
        return []

    def _message_delta(self, obj: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        usage = obj.get("usage")
        if isinstance(usage, dict):
            merge(self._usage, usage)
            events.append(UsageUpdate(decode_usage(self._usage)))
        delta = obj.get("delta") or {}
        stop = delta.get("stop_reason")
        if stop is not None:
            self._finished = True
            events.append(Finish(vocab.finish_reason(stop), stop))
        return events

    def close(self) -> list[StreamEvent]:
        if not self._done and not self._finished:
            raise GatewayError(502, "anthropic: the vendor closed the stream before it finished.",
                               retryable=False)
        return []
