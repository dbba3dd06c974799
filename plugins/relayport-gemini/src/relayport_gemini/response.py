"""Gemini `GenerateContentResponse` -> canonical `ChatResponse`."""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from relayport.model.chat import ChatResponse, Choice, Message
from relayport.model.content import Block, TextBlock, ThinkingBlock, ToolCallBlock
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport_gemini import vocab
from relayport_gemini.usage import decode_usage


def call_id(call: dict[str, Any]) -> str:
    """Gemini's own call id when it sent one; OpenAI clients need one either way."""
    given = call.get("id")
    return given if isinstance(given, str) and given else "call_" + secrets.token_hex(12)


def blocked(feedback: Any) -> GatewayError | None:
    """The prompt itself was refused: no candidates, only `promptFeedback.blockReason`."""
    if not isinstance(feedback, dict) or not feedback.get("blockReason"):
        return None
    reason = str(feedback["blockReason"])
    err = GatewayError(400, f"Gemini blocked the prompt ({reason}); rephrase it or change the safety settings.",
                       code="content_filter")
    err.extra["block_reason"] = reason
    return err


def parse_parts(parts: Any) -> tuple[list[Block], bool]:
    """Parts -> blocks: thought text and its signatures as one signed thinking block per
    signature (in part order, which is how the replay places them), answer text, calls."""
    blocks: list[Block] = []
    thoughts: list[str] = []
    called = False
    for p in parts if isinstance(parts, list) else ():
        if not isinstance(p, dict):
            continue
        text = p.get("text")
        produced = False
        if p.get("thought") and isinstance(text, str):
            thoughts.append(text)
        elif isinstance(text, str):
            if text:
                blocks.append(TextBlock(text))
                produced = True
        elif isinstance(p.get("functionCall"), dict):
            fc = p["functionCall"]
            called = produced = True
            args = fc.get("args")
            blocks.append(ToolCallBlock(call_id(fc), str(fc.get("name") or ""),
                                        orjson.dumps(args if args is not None else {}).decode()))
        sig = p.get("thoughtSignature")
        if isinstance(sig, str) and sig:
            signed = ThinkingBlock("".join(thoughts), sig)
            thoughts = []
            # Before the part it signs, so the replay finds it in the same order.
            blocks.insert(len(blocks) - 1 if produced else len(blocks), signed)
    if thoughts:
        blocks.insert(0, ThinkingBlock("".join(thoughts)))
    return blocks, called


def parse_body(obj: Any, model: str) -> ChatResponse:
    if isinstance(obj, list):  # a JSON-array stream read whole
        raise GatewayError(502, "gemini: expected one response object, got an array.")
    if not isinstance(obj, dict):
        raise GatewayError(502, "gemini: the vendor sent a response that is not a JSON object.")
    candidates = obj.get("candidates")
    if not candidates:
        err = blocked(obj.get("promptFeedback"))
        if err is not None:
            raise err
    choices: list[Choice] = []
    for i, c in enumerate(candidates if isinstance(candidates, list) else ()):
        content = c.get("content") if isinstance(c, dict) else None
        blocks, called = parse_parts(content.get("parts") if isinstance(content, dict) else None)
        raw = c.get("finishReason")
        extra: dict[str, Any] = {}
        choices.append(Choice(Message("assistant", blocks), vocab.finish_reason(raw, called),
                              int(c.get("index", i) or i), extra))
    if not choices:
        choices.append(Choice(Message("assistant", []), "stop"))
    usage = obj.get("usageMetadata")
    return ChatResponse(
        id=str(obj.get("responseId") or "chatcmpl-" + secrets.token_hex(12)),
        model=str(obj.get("modelVersion") or model),
        choices=choices,
        usage=decode_usage(usage) if isinstance(usage, dict) else None,
    )


def parse_response(response: UpstreamResponse, model: str) -> ChatResponse:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "gemini: the vendor sent a response that is not JSON.") from None
    return parse_body(obj, model)
