"""Canonical stream events -> Anthropic Messages SSE events.

A Messages stream is a sequence of content blocks, each opened (`content_block_start`), filled
(`content_block_delta`) and closed (`content_block_stop`) in turn, with indices 0, 1, 2...
Canonical events just say "more text", "more reasoning", "more of tool call k", so the encoder
opens a block when the kind changes and closes the previous one. `stop_reason` and usage go in
one `message_delta` at the end, because OpenAI-format vendors report usage after the finish.
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
from relayport.model.usage import Usage
from relayport_anthropic import errors, vocab
from relayport_anthropic.ingress import message_id
from relayport_anthropic.usage import encode_usage

_TEXT = "text"
_THINKING = "thinking"


def _event(name: bytes, obj: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def _text_delta(index: int, text: str) -> bytes:
    # The hot path: one orjson call on a small dict.
    return b"event: content_block_delta\ndata: " + orjson.dumps(
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    ) + b"\n\n"


_THINKING_START = {"type": "thinking", "thinking": "", "signature": ""}


class EventEncoder:
    """Encodes one stream; `encode` returns the bytes for one batch (written at once)."""

    def __init__(self, model: str, input_estimate: int = 0) -> None:
        self.model = model
        self.input_estimate = input_estimate
        self.usage: Usage | None = None
        self.finish: str | None = None
        self._started = False
        self._ended = False
        self._next = 0  # the next block index
        self._open: int | None = None  # index of the open block
        self._kind: str | None = None  # its kind: text, thinking, or ("tool", k)
        self._tools: dict[int, int] = {}  # tool call index -> block index
        self._has_args: set[int] = set()

    # ------------------------------------------------------------ blocks

    def _start(self, out: list[bytes], ident: str = "", known: Usage | None = None) -> None:
        if self._started:
            return
        self._started = True
        if known is not None:
            usage = encode_usage(known)
        else:
            # OpenAI-format vendors report usage only after the last token: until then the
            # input is the local estimate, and message_delta carries the vendor's true counts
            # (the SDKs take input_tokens from it), as Anthropic's own streams do.
            usage = {"input_tokens": self.input_estimate, "output_tokens": 0,
                     "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        out.append(_event(b"message_start", {
            "type": "message_start",
            "message": {
                "id": message_id(ident), "type": "message", "role": "assistant",
                "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": usage,
            },
        }))

    def _close(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        if isinstance(self._kind, tuple):
            self._finish_tool_args(out, self._kind[1], self._open)
        out.append(_event(b"content_block_stop", {"type": "content_block_stop", "index": self._open}))
        self._open = None
        self._kind = None

    def _finish_tool_args(self, out: list[bytes], k: int, index: int) -> None:
        if k not in self._has_args:
            # A call without arguments: leave valid JSON for the client's accumulator.
            self._has_args.add(k)
            out.append(self._json_delta(index, "{}"))

    def _open_block(self, out: list[bytes], kind: Any, block: dict[str, Any]) -> int:
        self._close(out)
        index = self._next
        self._next += 1
        out.append(_event(b"content_block_start",
                          {"type": "content_block_start", "index": index, "content_block": block}))
        self._open = index
        self._kind = kind
        return index

    @staticmethod
    def _json_delta(index: int, partial: str) -> bytes:
        return _event(b"content_block_delta", {
            "type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": partial},
        })

    def _block(self, out: list[bytes], kind: str, start: dict[str, Any]) -> int:
        """The index of the open block of `kind`, opening one (and closing another) if needed."""
        if self._kind == kind and self._open is not None:
            return self._open
        return self._open_block(out, kind, start)

    # ------------------------------------------------------------ events

    def encode(self, events: list[StreamEvent]) -> bytes:
        out: list[bytes] = []
        if not self._started:
            first = events[0] if events else None
            known = next((ev.usage for ev in events if isinstance(ev, UsageUpdate)), None)
            self._start(out, first.id if isinstance(first, StreamStart) else "", known)
        for ev in events:
            if self._ended:
                break
            if isinstance(ev, TextDelta):
                if not ev.text:
                    continue
                index = self._block(out, _TEXT, {"type": "text", "text": ""})
                out.append(_text_delta(index, ev.text))
            elif isinstance(ev, ReasoningDelta):
                if not ev.text:
                    continue
                index = self._block(out, _THINKING, _THINKING_START)
                out.append(_event(b"content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "thinking_delta", "thinking": ev.text},
                }))
            elif isinstance(ev, ReasoningSignature):
                index = self._block(out, _THINKING, _THINKING_START)
                out.append(_event(b"content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": ev.signature},
                }))
                self._close(out)  # the signature ends its thinking block
            elif isinstance(ev, RedactedReasoning):
                self._open_block(out, "redacted", {"type": "redacted_thinking", "data": ev.data})
                self._close(out)
            elif isinstance(ev, ToolCallDelta):
                self._tool(out, ev)
            elif isinstance(ev, UsageUpdate):
                self.usage = ev.usage
            elif isinstance(ev, Finish):
                self.finish = ev.reason
            elif isinstance(ev, StreamError):
                self._fail(out, ev.error)
        return b"".join(out)

    def _tool(self, out: list[bytes], ev: ToolCallDelta) -> None:
        index = self._tools.get(ev.index)
        if index is None:
            index = self._open_block(out, ("tool", ev.index), {
                "type": "tool_use", "id": vocab.tool_id(ev.id) if ev.id else f"toolu_{ev.index}",
                "name": ev.name or "", "input": {},
            })
            self._tools[ev.index] = index
        # A piece for a call whose block already closed (vendors that interleave parallel
        # calls) still goes out under that call's own index: the SDKs accumulate by index.
        if ev.arguments:
            self._has_args.add(ev.index)
            out.append(self._json_delta(index, ev.arguments))

    def _fail(self, out: list[bytes], error: GatewayError) -> None:
        out.append(errors.error_event(error))
        self._ended = True

    def end(self) -> bytes:
        """The closing events: the open block's stop, message_delta, message_stop."""
        if self._ended:
            return b""
        out: list[bytes] = []
        self._start(out)
        self._close(out)
        self._ended = True
        finish = self.finish
        if finish in (None, "stop") and self._tools:
            finish = "tool_calls"  # some vendors say "stop" after a tool call
        usage = encode_usage(self.usage)
        out.append(_event(b"message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": vocab.stop_reason(finish), "stop_sequence": None},
            "usage": usage,
        }))
        out.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        return b"".join(out)

    def error(self, error: GatewayError) -> bytes:
        """An error after the stream began (the client already has a 200)."""
        if self._ended:
            return b""
        out: list[bytes] = []
        self._fail(out, error)
        return b"".join(out)
