"""The Messages surface's wire format: Anthropic request -> canonical, canonical answer -> Anthropic.

Used when an Anthropic client calls a model whose vendor does not speak the Messages API
(Claude itself, and Anthropic-compatible vendors, are passed through instead). Fields that
only Anthropic understands (container, mcp_servers, service_tier, cache_control at the top
level...) are dropped here: the vendor behind this path would reject them.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from relayport.model.chat import ChatRequest, ChatResponse, Message, Thinking, Tool, ToolChoice
from relayport.model.content import (
    Block,
    FileBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
)
from relayport.model.errors import GatewayError, bad_request
from relayport.wire.fields import get, invalid
from relayport_anthropic import vocab
from relayport_anthropic.usage import encode_usage

_ROLES = ("user", "assistant")


def _path_error(path: str, message: str) -> GatewayError:
    return bad_request(f"{path}: {message}", param=path)


# ---------------------------------------------------------------- request


def decode_request(obj: Any) -> ChatRequest:
    if not isinstance(obj, dict):
        raise bad_request("The request body must be a JSON object.")
    model = get(obj, "model", str, "model", required=True)
    max_tokens = get(obj, "max_tokens", int, "max_tokens", required=True)
    if max_tokens < 1:
        raise _path_error("max_tokens", "must be at least 1.")
    raw_messages = get(obj, "messages", list, "messages", required=True)
    messages: list[Message] = []
    system = obj.get("system")
    if system is not None:
        messages.append(Message("system", _decode_system(system)))
    for i, m in enumerate(raw_messages):
        messages.extend(_decode_message(m, f"messages.{i}"))
    if not raw_messages:
        raise _path_error("messages", "at least one message is required.")
    stream = bool(get(obj, "stream", bool, "stream"))
    metadata = get(obj, "metadata", dict, "metadata") or {}
    tools, search = _decode_tools(obj)
    tool_choice, parallel = _decode_tool_choice(obj.get("tool_choice"))
    output_config = get(obj, "output_config", dict, "output_config") or {}
    req = ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        # Anthropic streams always report usage; ask OpenAI-format vendors for it too.
        include_usage=stream,
        max_tokens=max_tokens,
        temperature=get(obj, "temperature", float, "temperature"),
        top_p=get(obj, "top_p", float, "top_p"),
        stop=_str_list(obj.get("stop_sequences"), "stop_sequences"),
        tools=tools or None,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=parallel if tools else None,
        response_format=_response_format(output_config.get("format")),
        thinking=_decode_thinking(obj.get("thinking"), output_config.get("effort")),
        enable_search=True if search else None,
        user=metadata.get("user_id") if isinstance(metadata.get("user_id"), str) else None,
    )
    return req


def _str_list(value: Any, path: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(path, "an array of strings")
    return value or None


def _decode_system(system: Any) -> list[Block]:
    if isinstance(system, str):
        return [TextBlock(system)] if system else []
    if not isinstance(system, list):
        raise invalid("system", "a string or an array of text blocks")
    out: list[Block] = []
    for i, b in enumerate(system):
        if not isinstance(b, dict) or b.get("type") != "text":
            raise _path_error(f"system.{i}", "system blocks must be text blocks.")
        out.append(_text_block(b, f"system.{i}"))
    return out


def _text_block(b: dict[str, Any], path: str) -> TextBlock:
    block = TextBlock(get(b, "text", str, f"{path}.text", required=True))
    if "cache_control" in b:
        block.extra["cache_control"] = b["cache_control"]
    return block


def _decode_message(m: Any, path: str) -> list[Message]:
    """One Anthropic turn; a user turn holding tool results becomes tool messages (one per
    result, as the canonical model has them) followed by the user's own content."""
    if not isinstance(m, dict):
        raise invalid(path, "an object")
    role = get(m, "role", str, f"{path}.role", required=True)
    if role not in _ROLES:
        raise _path_error(f"{path}.role", f"unexpected role {role!r}; expected user or assistant.")
    content = m.get("content")
    if isinstance(content, str):
        return [Message(role, [TextBlock(content)] if content else [])]
    if not isinstance(content, list):
        raise invalid(f"{path}.content", "a string or an array of content blocks")
    out: list[Message] = []
    blocks: list[Block] = []
    for j, b in enumerate(content):
        p = f"{path}.content.{j}"
        if not isinstance(b, dict):
            raise invalid(p, "a content block object")
        if b.get("type") == "tool_result" and role == "user":
            out.append(Message("tool", [_tool_result(b, p)]))
        else:
            blocks.append(_decode_block(b, p, role))
    if blocks or not out:
        out.append(Message(role, blocks))
    return out


def _decode_block(b: dict[str, Any], path: str, role: str) -> Block:
    kind = get(b, "type", str, f"{path}.type", required=True)
    if kind == "text":
        return _text_block(b, path)
    if kind == "image":
        return _image(b, path)
    if kind == "document":
        return _document(b, path)
    if kind == "tool_use" and role == "assistant":
        args = b.get("input")
        return ToolCallBlock(
            get(b, "id", str, f"{path}.id", required=True),
            get(b, "name", str, f"{path}.name", required=True),
            orjson.dumps(args if args is not None else {}).decode(),
        )
    if kind == "thinking" and role == "assistant":
        return ThinkingBlock(get(b, "thinking", str, f"{path}.thinking") or "",
                             get(b, "signature", str, f"{path}.signature"))
    if kind == "redacted_thinking" and role == "assistant":
        return RedactedThinkingBlock(get(b, "data", str, f"{path}.data", required=True))
    # Server-tool blocks, search results...: kept for Anthropic-format vendors.
    return RawBlock(dict(b), extra={"format": "anthropic"})


def _image(b: dict[str, Any], path: str) -> ImageBlock:
    source = get(b, "source", dict, f"{path}.source", required=True)
    stype = source.get("type")
    block: ImageBlock
    if stype == "base64":
        block = ImageBlock(
            data=get(source, "data", str, f"{path}.source.data", required=True),
            media_type=get(source, "media_type", str, f"{path}.source.media_type", required=True),
        )
    elif stype == "url":
        block = ImageBlock(url=get(source, "url", str, f"{path}.source.url", required=True))
    elif stype == "file":
        block = ImageBlock(extra={"file_id": source.get("file_id")})
    else:
        raise _path_error(f"{path}.source.type", f"unsupported image source {stype!r}.")
    if "cache_control" in b:
        block.extra["cache_control"] = b["cache_control"]
    return block


def _document(b: dict[str, Any], path: str) -> Block:
    source = get(b, "source", dict, f"{path}.source", required=True)
    stype = source.get("type")
    title = b.get("title") if isinstance(b.get("title"), str) else None
    if stype == "text":
        # Plain-text documents are just text to a vendor without documents.
        text = get(source, "data", str, f"{path}.source.data", required=True)
        return TextBlock(f"{title}\n\n{text}" if title else text)
    if stype == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return TextBlock(inner)
        if isinstance(inner, list):
            texts = [x.get("text", "") for x in inner if isinstance(x, dict) and x.get("type") == "text"]
            return TextBlock("\n".join(texts))
        raise invalid(f"{path}.source.content", "a string or an array of blocks")
    block = FileBlock(filename=title)
    if stype == "base64":
        block.data = get(source, "data", str, f"{path}.source.data", required=True)
        block.media_type = get(source, "media_type", str, f"{path}.source.media_type") or "application/pdf"
    elif stype == "url":
        block.url = get(source, "url", str, f"{path}.source.url", required=True)
    elif stype == "file":
        block.file_id = get(source, "file_id", str, f"{path}.source.file_id", required=True)
    else:
        raise _path_error(f"{path}.source.type", f"unsupported document source {stype!r}.")
    for key in ("context", "citations", "cache_control"):
        if key in b:
            block.extra[key] = b[key]
    return block


def _tool_result(b: dict[str, Any], path: str) -> ToolResultBlock:
    call_id = get(b, "tool_use_id", str, f"{path}.tool_use_id", required=True)
    content = b.get("content")
    blocks: list[Block] = []
    if isinstance(content, str):
        blocks = [TextBlock(content)]
    elif isinstance(content, list):
        for k, x in enumerate(content):
            if not isinstance(x, dict):
                raise invalid(f"{path}.content.{k}", "a content block object")
            blocks.append(_decode_block(x, f"{path}.content.{k}", "user"))
    elif content is not None:
        raise invalid(f"{path}.content", "a string or an array of content blocks")
    result = ToolResultBlock(call_id, blocks, bool(b.get("is_error")))
    if "cache_control" in b:
        result.extra["cache_control"] = b["cache_control"]
    return result


def _decode_tools(obj: dict[str, Any]) -> tuple[list[Tool], bool]:
    raw = get(obj, "tools", list, "tools") or []
    tools: list[Tool] = []
    search = False
    for i, t in enumerate(raw):
        p = f"tools.{i}"
        if not isinstance(t, dict):
            raise invalid(p, "an object")
        kind = t.get("type")
        if kind not in (None, "custom"):
            # A server tool. Web search maps onto the gateway's enable_search; the others
            # (code execution, bash, computer use...) have no counterpart on other vendors.
            if isinstance(kind, str) and kind.startswith("web_search"):
                search = True
                continue
            raise _path_error(p, f"tool type {kind!r} is only available on Claude models.")
        tool = Tool(
            name=get(t, "name", str, f"{p}.name", required=True),
            description=get(t, "description", str, f"{p}.description"),
            parameters=get(t, "input_schema", dict, f"{p}.input_schema", required=True),
            strict=get(t, "strict", bool, f"{p}.strict"),
        )
        if "cache_control" in t:
            tool.extra["cache_control"] = t["cache_control"]
        tools.append(tool)
    return tools, search


def _decode_tool_choice(value: Any) -> tuple[ToolChoice | None, bool | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise invalid("tool_choice", "an object")
    kind = value.get("type")
    parallel = False if value.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return ToolChoice("auto"), parallel
    if kind == "any":
        return ToolChoice("required"), parallel
    if kind == "none":
        return ToolChoice("none"), None
    if kind == "tool":
        return ToolChoice("function", get(value, "name", str, "tool_choice.name", required=True)), parallel
    raise _path_error("tool_choice.type", f"unexpected value {kind!r}.")


def _decode_thinking(value: Any, effort: Any) -> Thinking | None:
    if value is None and effort is None:
        return None
    t = Thinking()
    if isinstance(effort, str):
        t.effort = effort
    if value is None:
        return t
    if not isinstance(value, dict):
        raise invalid("thinking", "an object")
    kind = get(value, "type", str, "thinking.type", required=True)
    t.kind = kind
    if kind == "enabled":
        t.enabled = True
        t.budget_tokens = get(value, "budget_tokens", int, "thinking.budget_tokens", required=True)
    elif kind == "disabled":
        t.enabled = False
    elif kind == "adaptive":
        t.enabled = True
    return t


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise invalid("output_config.format.schema", "an object")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}


# ---------------------------------------------------------------- response


def message_id(vendor_id: str | None) -> str:
    if vendor_id and vendor_id.startswith("msg_"):
        return vendor_id
    return "msg_" + (vendor_id or secrets.token_hex(12))


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's JSON text as the object Anthropic clients expect in `input`."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    # The model produced something that is not a JSON object; hand it over rather than lose it.
    return {"_raw_arguments": arguments}


def encode_blocks(blocks: list[Block]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in blocks:
        if isinstance(b, TextBlock):
            if b.text:
                out.append({"type": "text", "text": b.text})
        elif isinstance(b, ThinkingBlock):
            out.append({"type": "thinking", "thinking": b.text, "signature": b.signature or ""})
        elif isinstance(b, RedactedThinkingBlock):
            out.append({"type": "redacted_thinking", "data": b.data})
        elif isinstance(b, ToolCallBlock):
            out.append({"type": "tool_use", "id": vocab.tool_id(b.id) if b.id else _new_tool_id(),
                        "name": b.name, "input": tool_input(b.arguments)})
    return out


def _new_tool_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def encode_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    """A canonical answer as a Messages `message` object; `model` is the name the client used."""
    choice = resp.choices[0] if resp.choices else None
    content = encode_blocks(choice.message.content) if choice else []
    finish = choice.finish_reason if choice else None
    if finish in (None, "stop") and any(b["type"] == "tool_use" for b in content):
        finish = "tool_calls"  # some vendors say "stop" after a tool call
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": vocab.stop_reason(finish),
        "stop_sequence": None,
        "usage": encode_usage(resp.usage),
    }
