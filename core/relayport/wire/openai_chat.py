"""OpenAI Chat Completions wire format <-> the canonical model.

Decoding validates as it goes and names the offending field in a 400; fields with no
canonical home are kept in `extra` so they reach OpenAI-format vendors unchanged.
Extensions relayport adds to the format:
- request: `enable_thinking`, `thinking_budget`, `reasoning_effort`, `thinking`,
  `enable_search`, `images[]`, `videos[]`, `file_urls[]`, `voices[]`, `media_roles`;
- messages: `reasoning_content` and `thinking_blocks` (signed reasoning that a vendor needs
  back unmodified on the next turn, e.g. Claude's thinking signatures);
- usage: `cache_creation_input_tokens` and `cache_creation.{ephemeral_5m,ephemeral_1h}_input_tokens`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from relayport.ids import random_hex
from relayport.model.chat import (
    ChatRequest,
    ChatResponse,
    Choice,
    MediaInputs,
    Message,
    Thinking,
    Tool,
    ToolChoice,
)
from relayport.model.content import (
    AudioBlock,
    Block,
    FileBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
    VideoBlock,
)
from relayport.model.errors import GatewayError, bad_request
from relayport.model.stream import (
    AudioDelta,
    DeltaExtra,
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
from relayport.provider import openai_error_event
from relayport.wire import legacy_functions
from relayport.wire.fields import checked, get, invalid, missing, str_list, url_list

THINKING_FIELDS = ("enable_thinking", "thinking_budget", "reasoning_effort", "thinking")
MEDIA_FIELDS = ("images", "videos", "file_urls", "voices", "media_roles")
# Request fields relayport defines on top of OpenAI's; vendors that do not know them get them
# translated or removed, never forwarded blindly (OpenAI itself rejects unknown parameters).
EXTENSION_FIELDS = frozenset(THINKING_FIELDS + MEDIA_FIELDS + ("enable_search",))
_THINKING_KEYS = frozenset(THINKING_FIELDS)
_MEDIA_KEYS = frozenset(MEDIA_FIELDS)

_DECODED = frozenset(
    {
        "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
        "temperature", "top_p", "stop", "n", "seed", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "user", *legacy_functions.FIELDS,
    }
) | EXTENSION_FIELDS
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


# ---------------------------------------------------------------------------- request decode


# Top-level fields copied to the request attribute of the same name once their JSON type is
# checked.
_PLAIN: dict[str, type] = {
    "stream": bool,
    "temperature": float,
    "top_p": float,
    "n": int,
    "seed": int,
    "parallel_tool_calls": bool,
    "response_format": dict,
    "enable_search": bool,
    "user": str,
}


def decode_request(obj: Any) -> ChatRequest:
    if not isinstance(obj, dict):
        raise bad_request("The request body must be a JSON object.")
    model = get(obj, "model", str, "model", required=True)
    raw_messages = get(obj, "messages", list, "messages", required=True)
    if not raw_messages:
        raise bad_request("'messages' must contain at least one message.", param="messages")
    # Answers go back as `function_call` when the client declared functions, not tools.
    legacy = "functions" in obj and "tools" not in obj
    if legacy or legacy_functions.used(obj, raw_messages):
        obj = legacy_functions.modernize(obj)
        raw_messages = obj["messages"]
    messages = [_decode_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages)]
    # One pass over the keys the client sent: a field it left out costs nothing.
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        kind = _PLAIN.get(key)
        if kind is not None:
            if value is not None:
                fields[key] = checked(value, kind, key)
        elif key not in _DECODED:
            extra[key] = value
    stream_options = get(obj, "stream_options", dict, "stream_options") or {}
    if stream_options:
        fields["include_usage"] = bool(
            get(stream_options, "include_usage", bool, "stream_options.include_usage"))
        if len(stream_options) > 1 or "include_usage" not in stream_options:
            extra["stream_options"] = stream_options
    max_tokens = get(obj, "max_completion_tokens", int, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = get(obj, "max_tokens", int, "max_tokens")
    if "stop" in obj:
        stop = obj["stop"]
        if isinstance(stop, list) and stop and all(type(v) is int for v in stop):
            # Token ids (DashScope takes them): only vendors of this same format can use them.
            extra["stop"] = stop
        elif isinstance(stop, list) and any(type(v) is int for v in stop):
            raise invalid("stop", "strings or token ids, not both in one list")
        else:
            fields["stop"] = str_list(obj, "stop", "stop")
    if "tools" in obj:
        fields["tools"] = _decode_tools(obj)
    if "tool_choice" in obj:
        fields["tool_choice"] = _decode_tool_choice(obj["tool_choice"])
    if not _MEDIA_KEYS.isdisjoint(obj):
        media = MediaInputs(
            images=url_list(obj, "images"),
            videos=url_list(obj, "videos"),
            file_urls=url_list(obj, "file_urls"),
            voices=url_list(obj, "voices"),
            roles=get(obj, "media_roles", dict, "media_roles") or {},
        )
        if media:
            _inline_media(messages, media)
        fields["media"] = media
    return ChatRequest(model=model, messages=messages, max_tokens=max_tokens,
                       thinking=decode_thinking(obj), extra=extra, legacy_functions=legacy, **fields)


def decode_thinking(obj: dict[str, Any]) -> Thinking | None:
    """Every spelling of "think, and how much" a client may send, folded into one value."""
    if _THINKING_KEYS.isdisjoint(obj):
        return None
    t = Thinking()
    enabled = get(obj, "enable_thinking", bool, "enable_thinking")
    budget = get(obj, "thinking_budget", int, "thinking_budget")
    effort = get(obj, "reasoning_effort", str, "reasoning_effort")
    block = get(obj, "thinking", dict, "thinking")
    if block is not None:
        kind = get(block, "type", str, "thinking.type")
        t.kind = kind
        if kind == "enabled":
            t.enabled = True
        elif kind == "disabled":
            t.enabled = False
        b = block.get("budget_tokens")
        if b is not None:
            budget = get(block, "budget_tokens", int, "thinking.budget_tokens")
    if effort is not None:
        if effort == "none":
            t.enabled = False
        else:
            t.effort = effort
    if budget is not None:
        t.budget_tokens = budget
        if t.enabled is None:
            t.enabled = True
    if enabled is not None:
        t.enabled = enabled
    return t


_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id",
                             "reasoning_content", "thinking_blocks"})


def _decode_message(m: Any, path: str) -> Message:
    if not isinstance(m, dict):
        raise invalid(path, "an object")
    role = m.get("role")
    if type(role) is not str or role not in _ROLES:
        get(m, "role", str, f"{path}.role", required=True)  # absent or not a string: that error
        raise GatewayError(
            400,
            f"Invalid value for '{path}.role': {role!r}; expected one of system, developer, "
            "user, assistant, tool.",
            param=f"{path}.role",
            code="invalid_value",
        )
    extra = {k: v for k, v in m.items() if k not in _MESSAGE_FIELDS}
    content = m.get("content")
    if role == "tool":
        call_id = get(m, "tool_call_id", str, f"{path}.tool_call_id", required=True)
        return Message(role, [ToolResultBlock(call_id, _decode_content(content, f"{path}.content"))],
                       m.get("name"), extra)
    blocks: list[Block] = _decode_reasoning(m, path) if role == "assistant" else []
    if type(content) is str:  # the common case, spared the general decoder
        if content:
            blocks.append(TextBlock(content))
    else:
        blocks.extend(_decode_content(content, f"{path}.content"))
    if role == "assistant" and "tool_calls" in m:
        for j, call in enumerate(get(m, "tool_calls", list, f"{path}.tool_calls") or ()):
            blocks.append(_decode_tool_call(call, f"{path}.tool_calls[{j}]"))
    name = m.get("name")
    if name is not None and not isinstance(name, str):
        raise invalid(f"{path}.name", "a string")
    return Message(role, blocks, name, extra)


def _decode_reasoning(m: dict[str, Any], path: str) -> list[Block]:
    signed = get(m, "thinking_blocks", list, f"{path}.thinking_blocks")
    if signed:
        out: list[Block] = []
        for i, b in enumerate(signed):
            p = f"{path}.thinking_blocks[{i}]"
            if not isinstance(b, dict):
                raise invalid(p, "an object")
            if b.get("type") == "redacted_thinking":
                out.append(RedactedThinkingBlock(get(b, "data", str, f"{p}.data", required=True)))
            else:
                out.append(
                    ThinkingBlock(
                        get(b, "thinking", str, f"{p}.thinking") or "",
                        get(b, "signature", str, f"{p}.signature"),
                    )
                )
        return out
    text = get(m, "reasoning_content", str, f"{path}.reasoning_content")
    return [ThinkingBlock(text)] if text else []


def _decode_tool_call(call: Any, path: str) -> ToolCallBlock:
    if not isinstance(call, dict):
        raise invalid(path, "an object")
    fn = get(call, "function", dict, f"{path}.function", required=True)
    args = fn.get("arguments", "")
    if isinstance(args, (dict, list)):  # some clients send parsed arguments; keep them as JSON text
        args = orjson.dumps(args).decode()
    elif not isinstance(args, str):
        raise invalid(f"{path}.function.arguments", "a string")
    extra = {k: v for k, v in call.items() if k not in ("id", "type", "function", "index")}
    return ToolCallBlock(
        get(call, "id", str, f"{path}.id", required=True),
        get(fn, "name", str, f"{path}.function.name", required=True),
        args,
        extra,
    )


def _decode_content(content: Any, path: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextBlock(content)] if content else []
    if not isinstance(content, list):
        raise invalid(path, "a string or an array of content parts")
    return [_decode_part(p, f"{path}[{i}]") for i, p in enumerate(content)]


def _url_of(part: dict[str, Any], key: str, path: str) -> tuple[str, dict[str, Any]]:
    value = part.get(key)
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict):
        return get(value, "url", str, f"{path}.{key}.url", required=True), value
    if value is None:
        raise missing(f"{path}.{key}")
    raise invalid(f"{path}.{key}", "an object with a 'url'")


def _decode_part(part: Any, path: str) -> Block:
    if not isinstance(part, dict):
        raise invalid(path, "a content part object")
    kind = get(part, "type", str, f"{path}.type", required=True)
    block = _decode_known_part(part, kind, path)
    if not isinstance(block, RawBlock) and len(part) > 2:
        # Fields beside the part's payload (e.g. Anthropic-style `cache_control`) ride along.
        block.extra = {k: v for k, v in part.items() if k != "type" and k != kind}
    return block


def _decode_known_part(part: dict[str, Any], kind: str, path: str) -> Block:
    if kind == "text":
        return TextBlock(get(part, "text", str, f"{path}.text", required=True))
    if kind == "image_url":
        url, obj = _url_of(part, "image_url", path)
        media_type, data = _split_data_url(url, f"{path}.image_url.url" if obj else f"{path}.image_url")
        return ImageBlock(url=url, data=data, media_type=media_type, detail=obj.get("detail"))
    if kind == "input_audio":
        audio = get(part, "input_audio", dict, f"{path}.input_audio", required=True)
        return AudioBlock(
            data=get(audio, "data", str, f"{path}.input_audio.data", required=True),
            format=get(audio, "format", str, f"{path}.input_audio.format"),
        )
    if kind == "audio_url":
        url, _ = _url_of(part, "audio_url", path)
        return AudioBlock(url=url)
    if kind == "video_url":
        url, obj = _url_of(part, "video_url", path)
        return VideoBlock(url=url, fps=obj.get("fps"))
    if kind == "video" and isinstance(part.get("video"), list):
        return VideoBlock(frames=[str(u) for u in part["video"]])
    if kind == "file":
        f = get(part, "file", dict, f"{path}.file", required=True)
        data = f.get("file_data")
        url = f.get("file_url")
        media_type = None
        if isinstance(data, str) and data.startswith("data:"):
            media_type, data = _split_data_url(data, f"{path}.file.file_data")
        return FileBlock(
            url=url, data=data, media_type=media_type,
            filename=f.get("filename"), file_id=f.get("file_id"),
        )
    return RawBlock(dict(part))


def _split_data_url(url: str, path: str) -> tuple[str | None, str | None]:
    """`data:image/png;base64,AAA` -> ("image/png", "AAA"); other URLs -> (None, None)."""
    if not url.startswith("data:"):
        return None, None
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise bad_request(f"Malformed data URL in '{path}': no ',' separating header and data.", param=path)
    media_type = header.split(";", 1)[0] or None
    return media_type, data


def _inline_media(messages: list[Message], media: MediaInputs) -> None:
    """Attach the media arrays to the last user message, where every vendor looks for inputs."""
    target = next((m for m in reversed(messages) if m.role == "user"), None)
    if target is None:
        target = Message("user", [])
        messages.append(target)
    target.content.extend(ImageBlock(url=u) for u in media.images)
    target.content.extend(VideoBlock(url=u) for u in media.videos)
    target.content.extend(FileBlock(url=u) for u in media.file_urls)
    target.content.extend(AudioBlock(url=u) for u in media.voices)


def _decode_tools(obj: dict[str, Any]) -> list[Tool] | None:
    raw = get(obj, "tools", list, "tools")
    if raw is None:
        return None
    tools: list[Tool] = []
    for i, t in enumerate(raw):
        p = f"tools[{i}]"
        if not isinstance(t, dict):
            raise invalid(p, "an object")
        kind = t.get("type", "function")
        if kind != "function":
            tools.append(Tool(name=str(t.get("name", kind)), type=str(kind), extra=dict(t)))
            continue
        fn = get(t, "function", dict, f"{p}.function", required=True)
        tools.append(
            Tool(
                name=get(fn, "name", str, f"{p}.function.name", required=True),
                description=get(fn, "description", str, f"{p}.function.description"),
                parameters=get(fn, "parameters", dict, f"{p}.function.parameters"),
                strict=get(fn, "strict", bool, f"{p}.function.strict"),
            )
        )
    return tools


def _decode_tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise GatewayError(
                400, f"Invalid value for 'tool_choice': {value!r}.", param="tool_choice",
                code="invalid_value",
            )
        return ToolChoice(value)
    if isinstance(value, dict):
        fn = get(value, "function", dict, "tool_choice.function", required=True)
        return ToolChoice("function", get(fn, "name", str, "tool_choice.function.name", required=True))
    raise invalid("tool_choice", "a string or an object")


# ---------------------------------------------------------------------------- request encode


def encode_request(req: ChatRequest, model: str) -> dict[str, Any]:
    """The canonical request as an OpenAI chat body (extension fields left to the caller)."""
    body: dict[str, Any] = {"model": model, "messages": [encode_message(m) for m in req.messages]}
    if req.stream:
        body["stream"] = True
        if req.include_usage:
            body["stream_options"] = {"include_usage": True}
    for key in ("max_tokens", "temperature", "top_p", "n", "seed", "parallel_tool_calls",
                "response_format", "user"):
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    if req.stop:
        body["stop"] = req.stop
    if req.tools:
        body["tools"] = [_encode_tool(t) for t in req.tools]
    if req.tool_choice is not None:
        tc = req.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": tc.name}} if tc.mode == "function" else tc.mode
        )
    body.update(req.extra)
    return body


def _encode_tool(t: Tool) -> dict[str, Any]:
    if t.type != "function":
        return dict(t.extra) or {"type": t.type}
    fn: dict[str, Any] = {"name": t.name}
    if t.description is not None:
        fn["description"] = t.description
    if t.parameters is not None:
        fn["parameters"] = t.parameters
    if t.strict is not None:
        fn["strict"] = t.strict
    return {"type": "function", "function": fn}


def encode_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role}
    if m.role == "tool":
        result = next((b for b in m.content if isinstance(b, ToolResultBlock)), None)
        if result is not None:
            out["tool_call_id"] = result.tool_call_id
            out["content"] = _encode_content(result.content)
        out.update(m.extra)
        return out
    parts = [b for b in m.content if not isinstance(b, (ToolCallBlock, ThinkingBlock, RedactedThinkingBlock))]
    out["content"] = _encode_content(parts) if parts or m.role != "assistant" else None
    if m.name:
        out["name"] = m.name
    if m.role == "assistant":
        reasoning = m.reasoning()
        if reasoning:
            out["reasoning_content"] = reasoning
        if m.has_signed_reasoning():
            out["thinking_blocks"] = encode_thinking_blocks(m.content)
        calls = m.tool_calls()
        if calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in calls
            ]
    out.update(m.extra)
    return out


def encode_thinking_blocks(blocks: list[Block]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in blocks:
        if isinstance(b, ThinkingBlock):
            out.append({"type": "thinking", "thinking": b.text, "signature": b.signature})
        elif isinstance(b, RedactedThinkingBlock):
            out.append({"type": "redacted_thinking", "data": b.data})
    return out


def _encode_content(blocks: Sequence[Block]) -> str | list[dict[str, Any]]:
    if all(isinstance(b, TextBlock) and not b.extra for b in blocks):
        return "".join(b.text for b in blocks)  # type: ignore[union-attr]
    return [encode_part(b) for b in blocks]


def encode_part(b: Block) -> dict[str, Any]:
    out = _encode_known_part(b)
    if b.extra and not isinstance(b, RawBlock):
        out.update(b.extra)
    return out


def _encode_known_part(b: Block) -> dict[str, Any]:
    if isinstance(b, TextBlock):
        return {"type": "text", "text": b.text}
    if isinstance(b, ImageBlock):
        url = b.url or f"data:{b.media_type or 'image/png'};base64,{b.data}"
        image: dict[str, Any] = {"url": url}
        if b.detail:
            image["detail"] = b.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(b, AudioBlock):
        if b.data is not None:
            return {"type": "input_audio", "input_audio": {"data": b.data, "format": b.format or "wav"}}
        return {"type": "audio_url", "audio_url": {"url": b.url}}
    if isinstance(b, VideoBlock):
        if b.frames is not None:
            return {"type": "video", "video": b.frames}
        video: dict[str, Any] = {"url": b.url}
        if b.fps is not None:
            video["fps"] = b.fps
        return {"type": "video_url", "video_url": video}
    if isinstance(b, FileBlock):
        return {"type": "file", "file": file_fields(b)}
    if isinstance(b, RawBlock):
        return b.data
    if isinstance(b, ToolResultBlock):
        return {"type": "text", "text": "".join(x.text for x in b.content if isinstance(x, TextBlock))}
    raise TypeError(f"cannot encode {type(b).__name__} as an OpenAI content part")


# ---------------------------------------------------------------------------- usage


def decode_usage(u: dict[str, Any]) -> Usage:
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    cc = u.get("cache_creation") or {}
    known = {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
             "completion_tokens_details", "cache_creation_input_tokens", "cache_creation"}
    return Usage(
        input_tokens=u.get("prompt_tokens") or 0,
        output_tokens=u.get("completion_tokens") or 0,
        cached_tokens=ptd.get("cached_tokens"),
        cache_write_tokens=u.get("cache_creation_input_tokens"),
        cache_write_5m_tokens=cc.get("ephemeral_5m_input_tokens"),
        cache_write_1h_tokens=cc.get("ephemeral_1h_input_tokens"),
        reasoning_tokens=ctd.get("reasoning_tokens"),
        input_audio_tokens=ptd.get("audio_tokens"),
        output_audio_tokens=ctd.get("audio_tokens"),
        extra=_usage_extra(u, ptd, ctd, cc, known),
    )


def _usage_extra(u: dict[str, Any], ptd: dict[str, Any], ctd: dict[str, Any], cc: dict[str, Any],
                 known: set[str]) -> dict[str, Any]:
    """Usage keys without a canonical home, nested detail keys included (e.g. OpenAI's
    `accepted_prediction_tokens`), so `encode_usage` gives them back as they came."""
    extra = {k: v for k, v in u.items() if k not in known}
    for key, details, mapped in (
        ("prompt_tokens_details", ptd, ("cached_tokens", "audio_tokens")),
        ("completion_tokens_details", ctd, ("reasoning_tokens", "audio_tokens")),
        ("cache_creation", cc, ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")),
    ):
        rest = {k: v for k, v in details.items() if k not in mapped}
        if rest:
            extra[key] = rest
    return extra


def encode_usage(u: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
    }
    ptd: dict[str, int] = {"cached_tokens": u.cached_tokens or 0}
    if u.input_audio_tokens is not None:
        ptd["audio_tokens"] = u.input_audio_tokens
    out["prompt_tokens_details"] = ptd
    ctd: dict[str, int] = {"reasoning_tokens": u.reasoning_tokens or 0}
    if u.output_audio_tokens is not None:
        ctd["audio_tokens"] = u.output_audio_tokens
    out["completion_tokens_details"] = ctd
    if u.cache_write_tokens is not None:
        out["cache_creation_input_tokens"] = u.cache_write_tokens
    if u.cache_write_5m_tokens is not None or u.cache_write_1h_tokens is not None:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": u.cache_write_5m_tokens or 0,
            "ephemeral_1h_input_tokens": u.cache_write_1h_tokens or 0,
        }
    for key, value in u.extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}  # unmapped detail keys join the mapped ones
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------- response


def encode_response(resp: ChatResponse) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": resp.model,
        "choices": [
            {
                "index": c.index,
                "message": _encode_response_message(c.message),
                "finish_reason": c.finish_reason or "stop",
                "logprobs": None,
                **c.extra,
            }
            for c in resp.choices
        ],
    }
    if resp.usage is not None:
        out["usage"] = encode_usage(resp.usage)
    out.update(resp.extra)
    return out


def _encode_response_message(m: Message) -> dict[str, Any]:
    out = encode_message(m)
    content = out.get("content")
    if isinstance(content, str) and not content and out.get("tool_calls"):
        out["content"] = None
    out.setdefault("refusal", None)
    return out


def decode_response(obj: Any, reasoning_field: str = "reasoning_content") -> ChatResponse:
    if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
        raise GatewayError(502, "The vendor sent a response without 'choices'.")
    choices: list[Choice] = []
    for i, c in enumerate(obj["choices"]):
        raw = dict(c.get("message") or {})
        if reasoning_field != "reasoning_content" and reasoning_field in raw:
            raw["reasoning_content"] = raw.pop(reasoning_field)
        raw.setdefault("role", "assistant")
        try:
            message = _decode_message(raw, f"choices[{i}].message")
        except GatewayError as exc:
            raise GatewayError(502, f"The vendor sent a malformed message: {exc.message}") from None
        extra = {k: v for k, v in c.items() if k not in ("index", "message", "finish_reason")}
        choices.append(Choice(message, c.get("finish_reason"), c.get("index", i), extra))
    usage = obj.get("usage")
    return ChatResponse(
        id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        choices=choices,
        created=int(obj.get("created") or 0),
        usage=decode_usage(usage) if isinstance(usage, dict) else None,
        extra={k: v for k, v in obj.items()
               if k not in ("id", "object", "created", "model", "choices", "usage")},
    )


# ---------------------------------------------------------------------------- streams


_CHUNK_END = b',"logprobs":null}]}\n\n'
_NULL_FINISH = b',"finish_reason":null' + _CHUNK_END


class ChunkEncoder:
    """Canonical stream events -> OpenAI `chat.completion.chunk` SSE bytes.

    `encode` returns all bytes for one batch of events, to be written at once. An empty `id`
    stands for one made up on first use, should the vendor's stream not carry its own.
    """

    def __init__(self, id: str, model: str, include_usage: bool, created: int | None = None,
                 legacy_functions: bool = False) -> None:
        self.id = id
        self.legacy_functions = legacy_functions
        self.model = model
        self.created = created or int(time.time())
        self.include_usage = include_usage
        self.usage: Usage | None = None
        # Called with the encoded usage object before it is sent (new-api's extra fields).
        self.extend_usage: Callable[[dict[str, Any]], None] | None = None
        self.finish_reason: str | None = None
        self._started = False
        self._finished = False
        self._thinking: list[str] = []
        self._prefix: bytes | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if not self._started:
            self._started = True
            delta = {"role": "assistant", **delta}
        prefix = self._prefix
        if prefix is None:
            self._ensure_id()
            # Everything but the delta is the same in every chunk: encode it once per stream.
            prefix = self._prefix = (
                b'data: {"id":' + orjson.dumps(self.id)
                + b',"object":"chat.completion.chunk","created":' + str(self.created).encode()
                + b',"model":' + orjson.dumps(self.model) + b',"choices":[{"index":0,"delta":'
            )
        tail = _NULL_FINISH if finish is None else b',"finish_reason":' + orjson.dumps(finish) + _CHUNK_END
        return prefix + orjson.dumps(delta) + tail

    def delta(self, delta: dict[str, Any]) -> bytes:
        """One chunk with `delta` as given: fields no canonical event carries (annotations)."""
        return self._chunk(delta)

    def _ensure_id(self) -> None:
        if not self.id:
            self.id = "chatcmpl-" + random_hex(12)

    def encode(self, events: list[StreamEvent]) -> bytes:
        out: list[bytes] = []
        i, n = 0, len(events)
        while i < n:
            ev = events[i]
            i += 1
            if isinstance(ev, TextDelta | ReasoningDelta):
                # Deltas of one kind that arrived in the same upstream read go out as one chunk:
                # nothing waits for it, and per-chunk encoding is the translator's main cost.
                kind = type(ev)
                texts = [ev.text]
                while i < n and type(events[i]) is kind:
                    texts.append(events[i].text)  # type: ignore[union-attr]
                    i += 1
                text = "".join(texts)
                if not text:
                    continue
                if kind is TextDelta:
                    out.append(self._chunk({"content": text}))
                else:
                    self._thinking.append(text)
                    out.append(self._chunk({"reasoning_content": text}))
            elif isinstance(ev, ToolCallDelta):
                call: dict[str, Any] = {"index": ev.index}
                if ev.id is not None:
                    call["id"] = ev.id
                    call["type"] = "function"
                fn: dict[str, Any] = {"arguments": ev.arguments}
                if ev.name is not None:
                    fn["name"] = ev.name
                call["function"] = fn
                if self.legacy_functions:  # one call per turn: deltas of the first one
                    if ev.index == 0:
                        out.append(self._chunk({"function_call": fn}))
                    continue
                out.append(self._chunk({"tool_calls": [call]}))
            elif isinstance(ev, ReasoningSignature):
                block = {"type": "thinking", "thinking": "".join(self._thinking), "signature": ev.signature}
                self._thinking = []
                out.append(self._chunk({"thinking_blocks": [block]}))
            elif isinstance(ev, RedactedReasoning):
                out.append(self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": ev.data}]}))
            elif isinstance(ev, StreamStart):
                if not self._started:
                    self.id = ev.id or self.id
                    self.model = ev.model or self.model
                    self.created = ev.created or self.created
                    self._prefix = None
                    out.append(self._chunk({"content": ""}))
            elif isinstance(ev, UsageUpdate):
                self.usage = ev.usage
            elif isinstance(ev, Finish):
                reason = ev.reason
                if self.legacy_functions and reason == "tool_calls":
                    reason = "function_call"
                self.finish_reason = reason
                out.append(self._chunk({}, reason))
            elif isinstance(ev, StreamError):
                out.append(encode_stream_error(ev.error))
                self._finished = True
            elif isinstance(ev, DeltaExtra):
                out.append(self._chunk(ev.fields))
            elif isinstance(ev, AudioDelta):
                out.append(self._chunk({"audio": encode_audio_delta(ev)}))
        return b"".join(out)

    def finish(self) -> bytes:
        """The trailer: the usage chunk when asked for, then `[DONE]`."""
        if self._finished:
            return b""
        self._finished = True
        out = b""
        if self.include_usage and self.usage is not None:
            # No usage from the vendor means none to report, not zero tokens.
            self._ensure_id()
            usage = encode_usage(self.usage)
            if self.extend_usage is not None:
                self.extend_usage(usage)
            chunk = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage,
            }
            out = b"data: " + orjson.dumps(chunk) + b"\n\n"
        return out + b"data: [DONE]\n\n"


encode_stream_error = openai_error_event


def encode_audio_delta(ev: AudioDelta) -> dict[str, Any]:
    """OpenAI's `delta.audio`: only the fields this piece has."""
    audio: dict[str, Any] = {}
    if ev.id is not None:
        audio["id"] = ev.id
    if ev.data is not None:
        audio["data"] = ev.data
    if ev.transcript is not None:
        audio["transcript"] = ev.transcript
    if ev.expires_at is not None:
        audio["expires_at"] = ev.expires_at
    return audio


# OpenAI chat's `audio.format` values -> content types (pcm16: 24 kHz 16-bit little-endian mono).
AUDIO_FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "opus": "audio/ogg",
                 "aac": "audio/aac", "pcm16": "audio/L16;codec=pcm;rate=24000"}


def wants_audio(request: ChatRequest) -> bool:
    """The call asked for spoken output (`modalities` with "audio"): its stream may carry
    `delta.audio`, and only then is it looked for."""
    modalities = request.extra.get("modalities")
    return isinstance(modalities, list) and "audio" in modalities


def audio_media_type(request: ChatRequest) -> str | None:
    audio = request.extra.get("audio")
    fmt = audio.get("format") if isinstance(audio, dict) else None
    return AUDIO_FORMATS.get(fmt) if isinstance(fmt, str) else None


class ChunkDecoder:
    """OpenAI-format chunks -> canonical events (for vendors that stream OpenAI chat)."""

    def __init__(self, reasoning_field: str = "reasoning_content") -> None:
        self.reasoning_field = reasoning_field
        self._started = False

    def decode(self, obj: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(StreamStart(str(obj.get("id") or ""), str(obj.get("model") or ""),
                                      int(obj.get("created") or 0)))
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # the canonical stream carries one choice; n>1 streams pass through only
            delta = choice.get("delta") or {}
            reasoning = delta.get(self.reasoning_field)
            if reasoning:
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                events.append(TextDelta(content))
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                events.append(
                    ToolCallDelta(int(call.get("index", 0)), call.get("id"), fn.get("name"),
                                  fn.get("arguments") or "")
                )
            finish = choice.get("finish_reason")
            if finish:
                events.append(Finish(finish, finish))
        usage = obj.get("usage")
        if isinstance(usage, dict):
            events.append(UsageUpdate(decode_usage(usage)))
        return events


class AudioChunkDecoder(ChunkDecoder):
    """`ChunkDecoder` for calls that asked for audio: `delta.audio` pieces become `AudioDelta`s
    (a subclass, so streams without audio pay nothing for it)."""

    def __init__(self, reasoning_field: str = "reasoning_content", media_type: str | None = None) -> None:
        super().__init__(reasoning_field)
        self.media_type = media_type

    def decode(self, obj: dict[str, Any]) -> list[StreamEvent]:
        events = super().decode(obj)
        for choice in obj.get("choices") or ():
            audio = (choice.get("delta") or {}).get("audio") if choice.get("index", 0) == 0 else None
            if isinstance(audio, dict) and audio:
                expires = audio.get("expires_at")
                ev = AudioDelta(audio.get("data") or None, audio.get("transcript") or None, audio.get("id"),
                                expires if isinstance(expires, int) else None, self.media_type)
                # Before the finish the same chunk may carry: the audio belongs to the answer.
                at = next((i for i, e in enumerate(events) if isinstance(e, Finish | UsageUpdate)), len(events))
                events.insert(at, ev)
        return events


def file_fields(b: FileBlock) -> dict[str, Any]:
    """A file block in OpenAI's fields (chat's `file` part and Responses' `input_file` alike)."""
    f: dict[str, Any] = {}
    if b.data is not None:
        f["file_data"] = f"data:{b.media_type or 'application/pdf'};base64,{b.data}"
    if b.url is not None:
        f["file_url"] = b.url
    if b.file_id is not None:
        f["file_id"] = b.file_id
    if b.filename is not None:
        f["filename"] = b.filename
    return f
