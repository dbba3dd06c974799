"""Calling a vendor through its Responses API, for clients of the other surfaces.

Models served only through `POST /responses` (OpenAI's codex models) are reachable from Chat
Completions and Anthropic Messages by translation: a deployment of a provider with the
"responses" capability and the model option `api = "responses"` is sent the canonical request
as a Responses body, and its answer and stream are read back into the canonical model.

Reasoning: the request asks for `reasoning.encrypted_content` and does not store (`store:
false`), so a reasoning item comes back as a thinking block whose signature is
`<item id>:<encrypted_content>` (the surfaces carry one opaque signature string per block);
sent back on the next turn it becomes the same reasoning item again. Summary text, when the
vendor gives one, is the block's text.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.chat import ChatRequest, ChatResponse, Choice, Message
from relayport.model.content import (
    Block,
    FileBlock,
    ImageBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
)
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.stream import (
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.provider import Deployment
from relayport.vendor_errors import stream_failure
from relayport.wire.openai_chat import file_fields
from relayport.wire.openai_responses import decode_usage
from relayport.wire.sse import SSEEvent, payloads

RESPONSES_PATH = "/responses"


def speaks_responses_only(deployment: Deployment) -> bool:
    return deployment.options.get("api") == "responses" and "responses" in deployment.provider.capabilities


# ---------------------------------------------------------------------------- request


def _part(b: Block, role: str) -> dict[str, Any] | None:
    if isinstance(b, TextBlock):
        return {"type": "output_text" if role == "assistant" else "input_text", "text": b.text}
    if isinstance(b, ImageBlock):
        url = b.url or f"data:{b.media_type or 'image/png'};base64,{b.data}"
        part: dict[str, Any] = {"type": "input_image", "image_url": url}
        if b.detail:
            part["detail"] = b.detail
        return part
    if isinstance(b, FileBlock):
        return {"type": "input_file", **file_fields(b)}
    raise GatewayError(400, f"A {type(b).__name__} cannot be sent to this model (a Responses API vendor).",
                       code="unsupported_content")


def _items(m: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    role = "developer" if m.role == "system" else m.role

    def flush() -> None:
        if parts:
            out.append({"type": "message", "role": role, "content": list(parts)})
            parts.clear()

    for b in m.content:
        if isinstance(b, ToolResultBlock):
            flush()
            text = "".join(x.text for x in b.content if isinstance(x, TextBlock))
            out.append({"type": "function_call_output", "call_id": b.tool_call_id, "output": text})
        elif isinstance(b, ToolCallBlock):
            flush()
            out.append({"type": "function_call", "call_id": b.id, "name": b.name, "arguments": b.arguments})
        elif isinstance(b, ThinkingBlock):
            flush()
            if b.signature:  # only the vendor's own sealed reasoning can go back to it
                item_id, sep, sealed = b.signature.partition(":")
                out.append({"type": "reasoning", "id": item_id if sep else "rs_replayed",
                            "summary": [{"type": "summary_text", "text": b.text}] if b.text else [],
                            "encrypted_content": sealed if sep else b.signature})
        elif isinstance(b, RedactedThinkingBlock):
            continue  # another vendor's redacted reasoning means nothing here
        else:
            part = _part(b, m.role)
            if part is not None:
                parts.append(part)
    flush()
    return out


def encode_request(req: ChatRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": [i for m in req.messages for i in _items(m)],
                            "store": False, "include": ["reasoning.encrypted_content"]}
    if req.stream:
        body["stream"] = True
    if req.max_tokens is not None:
        body["max_output_tokens"] = req.max_tokens
    for key in ("temperature", "top_p", "parallel_tool_calls"):
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    if req.tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                          "parameters": t.parameters, "strict": bool(t.strict)}
                         for t in req.tools if t.type == "function"]
    if req.enable_search:
        body.setdefault("tools", []).append({"type": "web_search"})
    if req.tool_choice is not None:
        tc = req.tool_choice
        body["tool_choice"] = {"type": "function", "name": tc.name} if tc.mode == "function" else tc.mode
    fmt = req.response_format
    if fmt and fmt.get("type") == "json_schema":
        body["text"] = {"format": {"type": "json_schema", **(fmt.get("json_schema") or {})}}
    elif fmt and fmt.get("type") == "json_object":
        body["text"] = {"format": {"type": "json_object"}}
    if req.thinking is not None:
        if req.thinking.enabled is False:
            body["reasoning"] = {"effort": "none"}
        elif req.thinking.effort or req.thinking.enabled:
            body["reasoning"] = {"effort": req.thinking.effort or "medium", "summary": "auto"}
    return body


def translate_request(deployment: Deployment, req: ChatRequest) -> UpstreamRequest:
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    return UpstreamRequest("POST", deployment.url(RESPONSES_PATH), headers,
                           orjson.dumps(encode_request(req, deployment.model)), stream=req.stream)


# ---------------------------------------------------------------------------- response


def _finish(obj: dict[str, Any], blocks: list[Block]) -> str:
    if obj.get("status") == "incomplete":
        reason = (obj.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if any(isinstance(b, ToolCallBlock) for b in blocks) else "stop"


def _blocks(output: list[Any]) -> list[Block]:
    blocks: list[Block] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    blocks.append(TextBlock(part.get("text", "")))
                elif part.get("type") == "refusal":
                    blocks.append(TextBlock(part.get("refusal", "")))
        elif kind == "reasoning":
            text = "".join(s.get("text", "") for s in item.get("summary") or ())
            blocks.append(ThinkingBlock(text, _seal(item)))
        elif kind == "function_call":
            blocks.append(ToolCallBlock(item.get("call_id", ""), item.get("name", ""), item.get("arguments", "")))
    return blocks


def _seal(item: dict[str, Any]) -> str | None:
    sealed = item.get("encrypted_content")
    return f"{item.get('id', '')}:{sealed}" if sealed else None


def parse_response(response: UpstreamResponse) -> ChatResponse:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "The vendor sent a response that is not JSON.") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("output"), list):
        raise GatewayError(502, "The vendor sent a Response without 'output'.")
    if obj.get("status") == "failed":
        err = obj.get("error") or {}
        raise GatewayError(502, f"The vendor failed the response: {err.get('message', 'unknown error')}")
    blocks = _blocks(obj["output"])
    usage = obj.get("usage")
    return ChatResponse(id=str(obj.get("id") or ""), model=str(obj.get("model") or ""),
                        choices=[Choice(Message("assistant", blocks), _finish(obj, blocks))],
                        created=int(obj.get("created_at") or 0),
                        usage=decode_usage(usage) if isinstance(usage, dict) else None)


class ResponsesStreamParser:
    """A vendor's Responses event stream -> canonical events (one call per read: `feed_sse`)."""

    framing = "sse"

    def __init__(self) -> None:
        self._done = False
        self._tools: dict[int, int] = {}  # output_index -> canonical tool call index

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        return self._event(event.data)

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for payload in payloads(data):
            out.extend(self._event(payload))
            if self._done:
                break
        return out

    def _event(self, data: bytes) -> list[StreamEvent]:
        if not data or data == b"[DONE]":
            return []
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "The vendor sent a stream event that is not JSON.") from None
        kind = ev.get("type") if isinstance(ev, dict) else None
        if kind == "response.output_text.delta":
            return [TextDelta(ev.get("delta", ""))]
        if kind == "response.reasoning_summary_text.delta":
            return [ReasoningDelta(ev.get("delta", ""))]
        if kind == "response.function_call_arguments.delta":
            index = self._tools.get(ev.get("output_index", -1))
            return [] if index is None else [ToolCallDelta(index, arguments=ev.get("delta", ""))]
        if kind == "response.output_item.added":
            item = ev.get("item") or {}
            if item.get("type") == "function_call":
                index = self._tools[ev.get("output_index", -1)] = len(self._tools)
                return [ToolCallDelta(index, item.get("call_id"), item.get("name"), item.get("arguments") or "")]
            return []
        if kind == "response.output_item.done":
            item = ev.get("item") or {}
            if item.get("type") == "reasoning" and item.get("encrypted_content"):
                return [ReasoningSignature(_seal(item) or "")]
            return []
        if kind == "response.created":
            r = ev.get("response") or {}
            return [StreamStart(str(r.get("id") or ""), str(r.get("model") or ""), int(r.get("created_at") or 0))]
        if kind in ("response.completed", "response.incomplete"):
            self._done = True
            r = ev.get("response") or {}
            out: list[StreamEvent] = []
            if isinstance(r.get("usage"), dict):
                out.append(UsageUpdate(decode_usage(r["usage"])))
            out.append(Finish(_finish(r, [ToolCallBlock("", "")] if self._tools else []), r.get("status")))
            return out
        if kind in ("response.failed", "error"):
            self._done = True
            failed = (ev.get("response") or {}).get("error")
            raise (stream_failure({"error": failed} if isinstance(failed, dict) else ev)
                   or GatewayError(502, "The vendor's stream failed: unknown error"))
        return []

    def close(self) -> list[StreamEvent]:
        if not self._done:
            raise GatewayError(502, "The vendor closed the stream before it finished.")
        return []
