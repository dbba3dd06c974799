"""A Converse answer -> canonical `ChatResponse`."""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from relayport.model.chat import ChatResponse, Choice, Message
from relayport.model.content import Block, RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolCallBlock
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport_bedrock import vocab
from relayport_bedrock.usage import decode_usage


def response_id(headers: Any) -> str:
    """Converse answers carry no id; the request id AWS gives every call stands in."""
    rid = headers.get("x-amzn-requestid") if headers is not None else None
    return "chatcmpl-" + (rid or secrets.token_hex(12))


def decode_blocks(content: Any) -> list[Block]:
    blocks: list[Block] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            blocks.append(TextBlock(part["text"]))
        elif isinstance(part.get("toolUse"), dict):
            use = part["toolUse"]
            blocks.append(ToolCallBlock(str(use.get("toolUseId") or ""), str(use.get("name") or ""),
                                        orjson.dumps(use.get("input") if use.get("input") is not None else {}).decode()))
        elif isinstance(part.get("reasoningContent"), dict):
            rc = part["reasoningContent"]
            if isinstance(rc.get("reasoningText"), dict):
                rt = rc["reasoningText"]
                blocks.append(ThinkingBlock(str(rt.get("text") or ""), rt.get("signature")))
            elif isinstance(rc.get("redactedContent"), str):
                blocks.append(RedactedThinkingBlock(rc["redactedContent"]))
    return blocks


def parse_response(response: UpstreamResponse, model: str) -> ChatResponse:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "bedrock: the vendor's answer is not JSON.", code="upstream_malformed_response",
                           retryable=True) from None
    message = (obj.get("output") or {}).get("message") if isinstance(obj, dict) else None
    if not isinstance(message, dict):
        raise GatewayError(502, "bedrock: the answer has no output message.", code="upstream_malformed_response")
    raw = obj.get("stopReason")
    usage = obj.get("usage")
    return ChatResponse(
        id=response_id(response.headers),
        model=model,
        choices=[Choice(Message("assistant", decode_blocks(message.get("content"))), vocab.finish_reason(raw))],
        usage=decode_usage(usage) if isinstance(usage, dict) else None,
    )
