"""OpenAI Responses wire format <-> the canonical model.

A Responses request becomes a canonical `ChatRequest` (plus what the Response object echoes
back), a canonical `ChatResponse` becomes a `Response` object, and canonical stream events
become the Responses event sequence, so every chat vendor is reachable through
`POST /v1/responses`.

Decisions a reader should know:
- Items of one assistant turn (reasoning, message, function_call) arriving in a row form one
  canonical assistant message, so a vendor that needs thinking before its tool call (Claude)
  gets them in the same turn.
- A vendor's reasoning is returned as a `reasoning` item: its text as the summary (vendors give
  us the text, there is nothing else to summarise it from), and its signed form in
  `encrypted_content` (`ENCRYPTED_PREFIX` + base64url JSON of text and signature, or of the
  redacted data). It is the gateway's own envelope, not encrypted: the client already had the
  text. Given back as input (or through `previous_response_id`) it replays unmodified.
  `encrypted_content` from elsewhere (OpenAI's own) is dropped: no other vendor can read it.
- Fields with no canonical home that only OpenAI knows (`metadata`, `truncation`, `include`,
  `store`, `service_tier` ...) are echoed in the Response, never sent to translated vendors.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from relayport.ids import random_hex
from relayport.model.chat import ChatRequest, ChatResponse, Message, Thinking, Tool, ToolChoice
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
from relayport.model.errors import GatewayError, bad_request
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
from relayport.wire.fields import checked, get, invalid, missing

ENCRYPTED_PREFIX = "rpr1."
WEB_SEARCH_TOOLS = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26",
                              "web_search_preview_2025_03_11"})
# Fields of OpenAI's that the gateway cannot honour for any translated vendor: a 400 says so
# rather than a silently different answer.
_UNSUPPORTED = {
    "conversation": "the Conversations API is not provided by this gateway; use previous_response_id",
    "prompt": "stored prompt templates are OpenAI's own",
}
_ROLES = frozenset({"user", "system", "developer", "assistant"})


def new_id(prefix: str) -> str:
    return prefix + random_hex(16)


# ---------------------------------------------------------------------------- request


@attrs.define
class ResponsesRequest:
    """A decoded `POST /v1/responses` call.

    `chat` is what the vendor gets; `input_items` is this call's input as items (a string
    input becomes one user message item), stored for `previous_response_id` and input_items.
    """

    chat: ChatRequest
    body: dict[str, Any]
    input_items: list[dict[str, Any]]
    previous_response_id: str | None = None
    store: bool = True
    background: bool = False
    web_search: bool = False


def decode_request(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> ResponsesRequest:
    """The client's body -> canonical request. `history` is the stored items of the previous
    response (its input and its output), put before this call's input."""
    model = get(body, "model", str, "model", required=True)
    for key, why in _UNSUPPORTED.items():
        if body.get(key) is not None:
            raise GatewayError(400, f"'{key}' is not supported: {why}.", param=key, code="unsupported_parameter")
    raw_input = body.get("input")
    if raw_input is None:
        raise missing("input")
    if isinstance(raw_input, str):
        items: list[dict[str, Any]] = [{"type": "message", "role": "user",
                                        "content": [{"type": "input_text", "text": raw_input}]}]
    elif isinstance(raw_input, list):
        items = raw_input
    else:
        raise invalid("input", "a string or an array of input items")
    messages: list[Message] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if isinstance(instructions, str):
            if instructions:
                messages.append(Message("system", [TextBlock(instructions)]))
        elif isinstance(instructions, list):
            messages.extend(decode_items(instructions, "instructions"))
        else:
            raise invalid("instructions", "a string or an array of input items")
    if history:
        messages.extend(decode_items(history, "previous_response_id"))
    messages.extend(decode_items(items, "input"))
    if not messages:
        raise bad_request("'input' must contain at least one item.", param="input")

    chat = ChatRequest(model=model, messages=messages)
    chat.stream = bool(get(body, "stream", bool, "stream"))
    chat.include_usage = True
    chat.max_tokens = get(body, "max_output_tokens", int, "max_output_tokens")
    chat.temperature = get(body, "temperature", float, "temperature")
    chat.top_p = get(body, "top_p", float, "top_p")
    chat.parallel_tool_calls = get(body, "parallel_tool_calls", bool, "parallel_tool_calls")
    chat.user = get(body, "user", str, "user") or get(body, "safety_identifier", str, "safety_identifier")
    web_search = False
    if body.get("tools") is not None:
        chat.tools, web_search = _decode_tools(get(body, "tools", list, "tools"))
        if web_search:
            chat.enable_search = True
    if body.get("tool_choice") is not None:
        chat.tool_choice = _decode_tool_choice(body["tool_choice"])
    text = get(body, "text", dict, "text")
    if text:
        chat.response_format = _decode_format(get(text, "format", dict, "text.format"))
    reasoning = get(body, "reasoning", dict, "reasoning")
    if reasoning:
        effort = get(reasoning, "effort", str, "reasoning.effort")
        get(reasoning, "summary", str, "reasoning.summary")
        if effort == "none":
            chat.thinking = Thinking(enabled=False)
        elif effort:
            chat.thinking = Thinking(enabled=True, effort=effort)
    metadata = get(body, "metadata", dict, "metadata")
    if metadata:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise invalid(f"metadata.{k}", "a string")
    include = get(body, "include", list, "include")
    for i, v in enumerate(include or ()):
        checked(v, str, f"include[{i}]")
    truncation = get(body, "truncation", str, "truncation")
    if truncation not in (None, "auto", "disabled"):
        raise GatewayError(400, f"Invalid value for 'truncation': {truncation!r}; expected auto or disabled.",
                           param="truncation", code="invalid_value")
    store = get(body, "store", bool, "store")
    return ResponsesRequest(
        chat=chat,
        body=body,
        input_items=items,
        previous_response_id=get(body, "previous_response_id", str, "previous_response_id"),
        store=True if store is None else store,
        background=bool(get(body, "background", bool, "background")),
        web_search=web_search,
    )


def _decode_tools(raw: list[Any]) -> tuple[list[Tool], bool]:
    tools: list[Tool] = []
    web_search = False
    for i, t in enumerate(raw):
        p = f"tools[{i}]"
        if not isinstance(t, dict):
            raise invalid(p, "an object")
        kind = get(t, "type", str, f"{p}.type", required=True)
        if kind == "function":
            tools.append(Tool(
                name=get(t, "name", str, f"{p}.name", required=True),
                description=get(t, "description", str, f"{p}.description"),
                parameters=get(t, "parameters", dict, f"{p}.parameters"),
                strict=get(t, "strict", bool, f"{p}.strict"),
            ))
        elif kind in WEB_SEARCH_TOOLS:
            web_search = True
        else:
            raise GatewayError(
                400, f"Tool type '{kind}' in '{p}' is not supported through this gateway; "
                     "use function tools (or web_search where the model's vendor has search).",
                param=f"{p}.type", code="unsupported_tool")
    return tools, web_search


def _decode_tool_choice(value: Any) -> ToolChoice:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise GatewayError(400, f"Invalid value for 'tool_choice': {value!r}.", param="tool_choice",
                               code="invalid_value")
        return ToolChoice(value)
    if isinstance(value, dict):
        kind = get(value, "type", str, "tool_choice.type", required=True)
        if kind == "function":
            return ToolChoice("function", get(value, "name", str, "tool_choice.name", required=True))
        if kind in WEB_SEARCH_TOOLS:
            return ToolChoice("auto")
        if kind == "allowed_tools":
            mode = get(value, "mode", str, "tool_choice.mode") or "auto"
            return ToolChoice("required" if mode == "required" else "auto")
        raise GatewayError(400, f"tool_choice type '{kind}' is not supported through this gateway.",
                           param="tool_choice.type", code="unsupported_tool")
    raise invalid("tool_choice", "a string or an object")


def _decode_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if not fmt:
        return None
    kind = get(fmt, "type", str, "text.format.type", required=True)
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec: dict[str, Any] = {
            "name": get(fmt, "name", str, "text.format.name", required=True),
            "schema": get(fmt, "schema", dict, "text.format.schema", required=True),
        }
        if fmt.get("strict") is not None:
            spec["strict"] = get(fmt, "strict", bool, "text.format.strict")
        if fmt.get("description") is not None:
            spec["description"] = get(fmt, "description", str, "text.format.description")
        return {"type": "json_schema", "json_schema": spec}
    raise GatewayError(400, f"Invalid value for 'text.format.type': {kind!r}; expected text, json_object "
                            "or json_schema.", param="text.format.type", code="invalid_value")


def decode_items(items: list[Any], path: str) -> list[Message]:
    """Input items -> canonical messages; one assistant turn's items join one message."""
    out: list[Message] = []
    turn: Message | None = None  # the assistant message consecutive items add to
    for i, item in enumerate(items):
        p = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise invalid(p, "an input item object")
        kind = item.get("type")
        if kind is None or kind == "message":
            role = get(item, "role", str, f"{p}.role", required=True)
            if role not in _ROLES:
                raise GatewayError(400, f"Invalid value for '{p}.role': {role!r}; expected one of user, "
                                        "system, developer, assistant.", param=f"{p}.role", code="invalid_value")
            blocks = _decode_content(item.get("content"), f"{p}.content")
            if role == "assistant":
                if turn is None:
                    turn = Message("assistant")
                    out.append(turn)
                turn.content.extend(blocks)
                continue
            turn = None
            out.append(Message(role, blocks))
        elif kind == "function_call":
            if turn is None:
                turn = Message("assistant")
                out.append(turn)
            args = item.get("arguments", "")
            if not isinstance(args, str):
                raise invalid(f"{p}.arguments", "a string")
            turn.content.append(ToolCallBlock(
                get(item, "call_id", str, f"{p}.call_id", required=True),
                get(item, "name", str, f"{p}.name", required=True),
                args,
            ))
        elif kind == "reasoning":
            if turn is None:
                turn = Message("assistant")
                out.append(turn)
            block = _decode_reasoning(item, p)
            if block is not None:
                turn.content.append(block)
        elif kind == "function_call_output":
            turn = None
            call_id = get(item, "call_id", str, f"{p}.call_id", required=True)
            output = item.get("output")
            if isinstance(output, str):
                content: list[Block] = [TextBlock(output)] if output else []
            elif isinstance(output, list):
                content = _decode_content(output, f"{p}.output")
            else:
                raise invalid(f"{p}.output", "a string or an array of content parts")
            out.append(Message("tool", [ToolResultBlock(call_id, content)]))
        elif kind == "item_reference":
            raise GatewayError(400, f"'{p}': item references are not supported; send the item itself "
                                    "or use previous_response_id.", param=p, code="unsupported_item")
        else:
            raise GatewayError(400, f"Input item type {kind!r} in '{p}' is not supported through this "
                                    "gateway.", param=f"{p}.type", code="unsupported_item")
    return out


def _decode_reasoning(item: dict[str, Any], p: str) -> Block | None:
    sealed = item.get("encrypted_content")
    if isinstance(sealed, str) and sealed.startswith(ENCRYPTED_PREFIX):
        try:
            data = orjson.loads(base64.urlsafe_b64decode(sealed[len(ENCRYPTED_PREFIX):]))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            raise bad_request(f"'{p}.encrypted_content' is damaged; send it back as it was received.",
                              param=f"{p}.encrypted_content") from None
        if "redacted" in data:
            return RedactedThinkingBlock(str(data["redacted"]))
        return ThinkingBlock(str(data.get("text", "")), data.get("sig"))
    summary = item.get("summary") or []
    content = item.get("content") or []
    if not isinstance(summary, list) or not isinstance(content, list):
        raise invalid(f"{p}.summary", "an array")
    text = "".join(str(s.get("text", "")) for s in (content or summary) if isinstance(s, dict))
    return ThinkingBlock(text) if text else None


def _decode_content(content: Any, path: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextBlock(content)] if content else []
    if not isinstance(content, list):
        raise invalid(path, "a string or an array of content parts")
    out: list[Block] = []
    for i, part in enumerate(content):
        p = f"{path}[{i}]"
        if not isinstance(part, dict):
            raise invalid(p, "a content part object")
        kind = get(part, "type", str, f"{p}.type", required=True)
        if kind in ("input_text", "output_text", "text"):
            out.append(TextBlock(get(part, "text", str, f"{p}.text", required=True)))
        elif kind == "refusal":
            out.append(TextBlock(get(part, "refusal", str, f"{p}.refusal", required=True)))
        elif kind == "input_image":
            url = get(part, "image_url", str, f"{p}.image_url")
            file_id = get(part, "file_id", str, f"{p}.file_id")
            if url is None and file_id is None:
                raise missing(f"{p}.image_url")
            if url is None:
                raise GatewayError(400, f"'{p}.file_id': OpenAI file ids are not supported; send the image as "
                                        "image_url (a URL or a data: URL).", param=f"{p}.file_id",
                                   code="unsupported_parameter")
            media_type, data = _split_data_url(url, f"{p}.image_url")
            out.append(ImageBlock(url=url, data=data, media_type=media_type, detail=part.get("detail")))
        elif kind == "input_file":
            data = get(part, "file_data", str, f"{p}.file_data")
            media_type = None
            if data is not None and data.startswith("data:"):
                media_type, data = _split_data_url(data, f"{p}.file_data")
            out.append(FileBlock(url=get(part, "file_url", str, f"{p}.file_url"), data=data,
                                 media_type=media_type, filename=get(part, "filename", str, f"{p}.filename"),
                                 file_id=get(part, "file_id", str, f"{p}.file_id")))
        else:
            raise GatewayError(400, f"Content part type {kind!r} in '{p}' is not supported through this "
                                    "gateway.", param=f"{p}.type", code="unsupported_content")
    return out


def _split_data_url(url: str, path: str) -> tuple[str | None, str | None]:
    if not url.startswith("data:"):
        return None, None
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise bad_request(f"Malformed data URL in '{path}': no ',' separating header and data.", param=path)
    return header.split(";", 1)[0] or None, data


# ---------------------------------------------------------------------------- response


def seal_reasoning(text: str, signature: str | None) -> str | None:
    """The `encrypted_content` that replays a vendor's reasoning; None when there is none."""
    if not text and not signature:
        return None
    obj: dict[str, Any] = {"text": text}
    if signature:
        obj["sig"] = signature
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(orjson.dumps(obj)).decode()


def seal_redacted(data: str) -> str:
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(orjson.dumps({"redacted": data})).decode()


def reasoning_item(item_id: str, text: str, sealed: str | None, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}] if text else [],
            "encrypted_content": sealed, "status": status}


def message_item(item_id: str, text: str | None, status: str = "completed") -> dict[str, Any]:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def output_items(message: Message) -> list[dict[str, Any]]:
    """A canonical assistant message -> Responses output items, in the order the model made them."""
    out: list[dict[str, Any]] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            out.append(message_item(new_id("msg_"), "".join(text)))
            text.clear()

    for b in message.content:
        if isinstance(b, TextBlock):
            text.append(b.text)
            continue
        flush()
        if isinstance(b, ThinkingBlock):
            out.append(reasoning_item(new_id("rs_"), b.text, seal_reasoning(b.text, b.signature)))
        elif isinstance(b, RedactedThinkingBlock):
            out.append(reasoning_item(new_id("rs_"), "", seal_redacted(b.data)))
        elif isinstance(b, ToolCallBlock):
            out.append(call_item(new_id("fc_"), b.id, b.name, b.arguments))
    flush()
    return out


def encode_usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens or 0,
                                 "cache_write_tokens": u.cache_write_tokens or 0},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens or 0},
        "total_tokens": u.total_tokens,
    }


def decode_usage(u: dict[str, Any]) -> Usage:
    itd = u.get("input_tokens_details") or {}
    otd = u.get("output_tokens_details") or {}
    return Usage(input_tokens=u.get("input_tokens") or 0, output_tokens=u.get("output_tokens") or 0,
                 cached_tokens=itd.get("cached_tokens"), cache_write_tokens=itd.get("cache_write_tokens"),
                 reasoning_tokens=otd.get("reasoning_tokens"))


def response_shell(req: ResponsesRequest, response_id: str, created_at: int | None = None) -> dict[str, Any]:
    """The Response object without output: what the client asked for, echoed back."""
    body = req.body
    reasoning = body.get("reasoning")
    text = body.get("text") or {"format": {"type": "text"}}
    shell: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at or int(time.time()),
        "status": "in_progress",
        "background": req.background,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": req.chat.max_tokens,
        "max_tool_calls": body.get("max_tool_calls"),
        "model": req.chat.model,
        "output": [],
        "parallel_tool_calls": True if req.chat.parallel_tool_calls is None else req.chat.parallel_tool_calls,
        "previous_response_id": req.previous_response_id,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}
        if isinstance(reasoning, dict) else {"effort": None, "summary": None},
        "store": req.store,
        "temperature": req.chat.temperature if req.chat.temperature is not None else 1.0,
        "text": text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": [_echo_tool(t) for t in body.get("tools") or ()],
        "top_p": req.chat.top_p if req.chat.top_p is not None else 1.0,
        "truncation": body.get("truncation") or "disabled",
        "metadata": body.get("metadata") or {},
    }
    if req.chat.user is not None:
        shell["user"] = req.chat.user
    return shell


def _echo_tool(t: dict[str, Any]) -> dict[str, Any]:
    """A tool as the Response lists it: function tools with all their fields, as OpenAI does."""
    if t.get("type") != "function":
        return t
    return {"description": None, "parameters": None, "strict": None, **t}


_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def finish_shell(shell: dict[str, Any], output: list[dict[str, Any]], finish: str | None,
                 usage: Usage | None) -> dict[str, Any]:
    """Complete a shell with output, status and usage (in place, and returned)."""
    reason = _INCOMPLETE.get(finish or "")
    shell["output"] = output
    if reason is None:
        shell["status"] = "completed"
        shell["completed_at"] = int(time.time())
    else:
        shell["status"] = "incomplete"
        shell["incomplete_details"] = {"reason": reason}
        if output and output[-1]["type"] == "message":
            output[-1]["status"] = "incomplete"
    if usage is not None:
        shell["usage"] = encode_usage(usage)
    return shell


def encode_response(req: ResponsesRequest, resp: ChatResponse, response_id: str) -> dict[str, Any]:
    choice = resp.choices[0] if resp.choices else None
    output = output_items(choice.message) if choice is not None else []
    shell = response_shell(req, response_id)
    return finish_shell(shell, output, choice.finish_reason if choice else None, resp.usage)


_ERROR_CODES = {429: "rate_limit_exceeded", 400: "invalid_prompt"}


def response_error(err: GatewayError) -> dict[str, Any]:
    """A `ResponseError` (its `code` is one of the spec's few words)."""
    return {"code": _ERROR_CODES.get(err.status, "server_error"), "message": err.message}


# ---------------------------------------------------------------------------- streams


def _sse(kind: bytes, data: bytes) -> bytes:
    return b"event: " + kind + b"\ndata: " + data + b"\n\n"


class _Item:
    """An output item being streamed: its index, id, kind and accumulated text."""

    __slots__ = ("index", "id", "kind", "parts", "call_id", "name", "tool_index", "signature",
                 "redacted", "delta_prefix", "ids", "closed")

    def __init__(self, index: int, item_id: str, kind: str) -> None:
        self.index = index
        self.id = item_id
        self.kind = kind
        self.parts: list[str] = []
        self.call_id = ""
        self.name = ""
        self.tool_index = -1
        self.signature: str | None = None
        self.redacted: str | None = None
        self.delta_prefix = b""
        self.ids = b""  # `"item_id":...,"output_index":...` as its events spell it
        self.closed = False


# The fixed parts of a message item's events (`message_item`'s fields, in its order).
_OPEN_MESSAGE = b'","type":"message","role":"assistant","status":"in_progress","content":[]}'
_DONE_MESSAGE = b'","type":"message","role":"assistant","status":"completed","content":['
_EMPTY_TEXT_PART = b',"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}'


class EventEncoder:
    """Canonical stream events -> Responses SSE bytes, one `bytes` per batch (one upstream read).

    Per delta it builds one event from a prefix encoded once per item plus the JSON of the
    text; what the final Response needs (the texts) is kept as a list of the pieces.
    `start()` gives the opening events, `encode(batch)` the events of one read,
    `finish()` closes open items and ends with `response.completed`/`.incomplete`/`.failed`.
    """

    def __init__(self, shell: dict[str, Any]) -> None:
        self.shell = shell
        self.seq = 0
        self.items: list[_Item] = []
        self.output: list[dict[str, Any]] = []
        self.current: _Item | None = None
        self.tools: dict[int, _Item] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.error: GatewayError | None = None
        self.response: dict[str, Any] | None = None  # the final Response, once finished
        # Annotations of a finished message's text (the gateway's web search citations).
        self.annotate: Callable[[str], list[dict[str, Any]]] | None = None

    def _event(self, kind: str, obj: dict[str, Any]) -> bytes:
        obj["sequence_number"] = self.seq
        self.seq += 1
        return _sse(kind.encode(), orjson.dumps(obj))

    def _raw(self, kind: bytes, fields: bytes) -> bytes:
        """An event from its fields already encoded (the message events every stream sends:
        their shape is fixed, so only the ids and the text need encoding)."""
        seq = self.seq
        self.seq += 1
        return (b"event: " + kind + b'\ndata: {"type":"' + kind + b'",' + fields
                + b',"sequence_number":' + str(seq).encode() + b"}\n\n")

    def start(self) -> bytes:
        # Both opening events carry the same Response: encoded once.
        shell = orjson.dumps(self.shell)
        seq = self.seq
        self.seq += 2
        return (b'event: response.created\ndata: {"type":"response.created","response":' + shell
                + b',"sequence_number":' + str(seq).encode() + b'}\n\n'
                + b'event: response.in_progress\ndata: {"type":"response.in_progress","response":' + shell
                + b',"sequence_number":' + str(seq + 1).encode() + b'}\n\n')

    def _delta(self, item: _Item, text: str) -> bytes:
        seq = self.seq
        self.seq += 1
        return item.delta_prefix + orjson.dumps(text) + b',"sequence_number":' + str(seq).encode() + b"}\n\n"

    # ---- opening and closing items

    def _open(self, kind: str) -> tuple[_Item, bytes]:
        prefix = {"message": "msg_", "reasoning": "rs_", "function_call": "fc_"}[kind]
        item = _Item(len(self.items), new_id(prefix), kind)
        self.items.append(item)
        self.current = item
        ids = item.ids = b'"item_id":"' + item.id.encode() + b'","output_index":' + str(item.index).encode()
        if kind == "message":
            item.delta_prefix = (b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                                 + ids + b',"content_index":0,"logprobs":[],"delta":')
            out = self._raw(b"response.output_item.added", b'"output_index":' + str(item.index).encode()
                            + b',"item":{"id":"' + item.id.encode() + _OPEN_MESSAGE)
            out += self._raw(b"response.content_part.added", ids + _EMPTY_TEXT_PART)
            return item, out
        if kind == "reasoning":
            body = reasoning_item(item.id, "", None, "in_progress")
            item.delta_prefix = (b'event: response.reasoning_summary_text.delta\ndata: {"type":'
                                 b'"response.reasoning_summary_text.delta",' + ids + b',"summary_index":0,"delta":')
            out = self._event("response.output_item.added", {"type": "response.output_item.added",
                                                             "output_index": item.index, "item": body})
            out += self._event("response.reasoning_summary_part.added", {
                "type": "response.reasoning_summary_part.added", "item_id": item.id, "output_index": item.index,
                "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
            return item, out
        item.delta_prefix = (b'event: response.function_call_arguments.delta\ndata: {"type":'
                             b'"response.function_call_arguments.delta",' + ids + b',"delta":')
        return item, b""

    def _close(self, item: _Item) -> bytes:
        item.closed = True
        text = "".join(item.parts)
        i, iid = item.index, item.id
        out = b""
        closing = b""  # the item's `output_item.done`, when its branch encodes it itself
        if item.kind == "message":
            notes = self.annotate(text) if self.annotate is not None else []
            done = message_item(iid, text)
            if notes:
                done["content"][0]["annotations"] = notes
            # The text is encoded once for the three events that repeat it.
            text_json = orjson.dumps(text)
            part = (b'{"type":"output_text","text":' + text_json + b',"annotations":'
                    + (orjson.dumps(notes) if notes else b"[]") + b',"logprobs":[]}')
            out += self._raw(b"response.output_text.done",
                             item.ids + b',"content_index":0,"text":' + text_json + b',"logprobs":[]')
            out += self._raw(b"response.content_part.done", item.ids + b',"content_index":0,"part":' + part)
            closing = self._raw(b"response.output_item.done", b'"output_index":' + str(i).encode()
                                + b',"item":{"id":"' + iid.encode() + _DONE_MESSAGE + part + b"]}")
        elif item.kind == "reasoning":
            if item.redacted is not None:
                done = reasoning_item(iid, "", seal_redacted(item.redacted))
            else:
                if text or not item.signature:
                    out += self._event("response.reasoning_summary_text.done", {
                        "type": "response.reasoning_summary_text.done", "item_id": iid, "output_index": i,
                        "summary_index": 0, "text": text})
                    out += self._event("response.reasoning_summary_part.done", {
                        "type": "response.reasoning_summary_part.done", "item_id": iid, "output_index": i,
                        "summary_index": 0, "part": {"type": "summary_text", "text": text}})
                done = reasoning_item(iid, text, seal_reasoning(text, item.signature))
        else:
            out += self._event("response.function_call_arguments.done", {
                "type": "response.function_call_arguments.done", "item_id": iid, "output_index": i,
                "name": item.name, "arguments": text})
            done = call_item(iid, item.call_id, item.name, text)
        self.output.append(done)
        out += closing or self._event("response.output_item.done", {"type": "response.output_item.done",
                                                                    "output_index": i, "item": done})
        if self.current is item:
            self.current = None
        return out

    def _switch(self, kind: str) -> tuple[_Item, bytes]:
        cur = self.current
        if cur is not None and cur.kind == kind and kind != "function_call":
            return cur, b""
        out = self._close(cur) if cur is not None else b""
        item, opened = self._open(kind)
        return item, out + opened

    # ---- the hot path

    def encode(self, events: list[StreamEvent]) -> bytes:
        out: list[bytes] = []
        i, n = 0, len(events)
        while i < n:
            ev = events[i]
            i += 1
            kind = type(ev)
            if kind is TextDelta or kind is ReasoningDelta:
                # Deltas of one kind from the same read go out as one event.
                texts = [ev.text]  # type: ignore[union-attr]
                while i < n and type(events[i]) is kind:
                    texts.append(events[i].text)  # type: ignore[union-attr]
                    i += 1
                text = "".join(texts)
                if not text:
                    continue
                item, opened = self._switch("message" if kind is TextDelta else "reasoning")
                if opened:
                    out.append(opened)
                item.parts.append(text)
                out.append(self._delta(item, text))
            elif kind is ToolCallDelta:
                out.append(self._tool(ev))  # type: ignore[arg-type]
            elif kind is ReasoningSignature:
                item, opened = self._switch("reasoning")
                item.signature = ev.signature  # type: ignore[union-attr]
                out.append(opened + self._close(item))
            elif kind is RedactedReasoning:
                cur = self.current
                closing = self._close(cur) if cur is not None else b""
                item, opened = self._open("reasoning")
                item.redacted = ev.data  # type: ignore[union-attr]
                out.append(closing + opened + self._close(item))
            elif kind is UsageUpdate:
                self.usage = ev.usage  # type: ignore[union-attr]
            elif kind is Finish:
                self.finish_reason = ev.reason  # type: ignore[union-attr]
            elif kind is StreamError:
                self.error = ev.error  # type: ignore[union-attr]
            elif kind is StreamStart:
                pass
        return b"".join(out)

    def _tool(self, ev: ToolCallDelta) -> bytes:
        item = self.tools.get(ev.index)
        out = b""
        if item is None:
            cur = self.current
            if cur is not None:
                out += self._close(cur)
            item, _ = self._open("function_call")
            item.tool_index = ev.index
            item.call_id = ev.id or new_id("call_")
            item.name = ev.name or ""
            self.tools[ev.index] = item
            out += self._event("response.output_item.added", {
                "type": "response.output_item.added", "output_index": item.index,
                "item": call_item(item.id, item.call_id, item.name, "", "in_progress")})
        elif ev.name and not item.name:
            item.name = ev.name
        if ev.arguments:
            item.parts.append(ev.arguments)
            out += self._delta(item, ev.arguments)
        return out

    def finish(self) -> bytes:
        """Close what is open and end the response (failed when the stream broke off)."""
        out = b""
        for item in self.items:
            if not item.closed:
                out += self._close(item)
        order = {item.id: item.index for item in self.items}
        self.output.sort(key=lambda o: order[o["id"]])
        if self.error is not None:
            err = self.error
            shell = self.shell
            shell["output"] = self.output
            shell["status"] = "failed"
            shell["error"] = response_error(err)
            if self.usage is not None:
                shell["usage"] = encode_usage(self.usage)
            self.response = shell
            out += self._event("error", {"type": "error", "code": err.code or err.type, "message": err.message,
                                         "param": err.param})
            return out + self._event("response.failed", {"type": "response.failed", "response": shell})
        response = finish_shell(self.shell, self.output, self.finish_reason, self.usage)
        self.response = response
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return out + self._event(kind, {"type": kind, "response": response})
