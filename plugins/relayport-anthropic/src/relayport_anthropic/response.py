"""Anthropic Messages response -> canonical chat response."""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.chat import ChatResponse, Choice, Message
from relayport.model.content import (
    Block,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport_anthropic import errors, vocab
from relayport_anthropic.usage import decode_usage


def parse_response(response: UpstreamResponse, prefill: str | None = None) -> ChatResponse:
    """`prefill` is text the request put at the start of Claude's answer (see `jsonmode`):
    Claude continues after it, so it goes back in front of the answer's text."""
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "anthropic: the vendor sent a response that is not JSON.") from None
    if not isinstance(obj, dict):
        raise GatewayError(502, "anthropic: the vendor sent a response that is not an object.")
    if obj.get("type") == "error":
        raise errors.from_event(obj)
    resp = decode_message(obj)
    if prefill:
        _put_back(resp, prefill)
    return resp


def _put_back(resp: ChatResponse, prefill: str) -> None:
    blocks = resp.choices[0].message.content
    for block in blocks:
        if isinstance(block, TextBlock):
            block.text = prefill + block.text
            return
    blocks.append(TextBlock(prefill))


def decode_message(obj: dict[str, Any]) -> ChatResponse:
    content = obj.get("content")
    if not isinstance(content, list):
        raise GatewayError(502, "anthropic: the vendor sent a message without 'content'.")
    blocks = [b for b in (decode_block(x) for x in content) if b is not None]
    stop = obj.get("stop_reason")
    usage = obj.get("usage")
    return ChatResponse(
        id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        choices=[Choice(Message("assistant", blocks), vocab.finish_reason(stop))],
        usage=decode_usage(usage) if isinstance(usage, dict) else None,
    )


def decode_block(x: Any) -> Block | None:
    """One response content block; server-tool blocks (web search calls and results) have
    no place in an OpenAI message and are left out, their text answer is kept."""
    if not isinstance(x, dict):
        return None
    kind = x.get("type")
    if kind == "text":
        block = TextBlock(x.get("text") or "")
        if x.get("citations"):
            block.extra["citations"] = x["citations"]
        return block
    if kind == "thinking":
        return ThinkingBlock(x.get("thinking") or "", x.get("signature"))
    if kind == "redacted_thinking":
        return RedactedThinkingBlock(x.get("data") or "")
    if kind == "tool_use":
        return ToolCallBlock(str(x.get("id") or ""), str(x.get("name") or ""),
                             orjson.dumps(x.get("input") or {}).decode())
    return None
