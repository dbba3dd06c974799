"""Canonical chat request -> Anthropic Messages request.

The Messages API is stricter than OpenAI's chat: one top-level `system`, only user/assistant
turns that alternate, tool results as `tool_result` blocks first in the next user turn,
`max_tokens` required, signed thinking replayed unmodified. Everything here exists to turn
what OpenAI clients send into something Claude accepts, and to say clearly (400) what it
cannot take (audio, video).

Per-deployment options (`options` in the model's config):
  default_max_tokens   max_tokens when the client sent none (default 4096)
  anthropic_version    the `anthropic-version` header (default 2023-06-01)
  betas                extra `anthropic-beta` values sent on every call
  thinking_mode        "budget" (default: `thinking.budget_tokens`) or "adaptive"
                       (`thinking.type: adaptive` + `output_config.effort`, newer models)
  effort_budgets       {effort: budget_tokens} overriding the built-in table
  interleaved_thinking send the interleaved-thinking beta with thinking + tools (default:
                       yes, except on claude-3* models, which do not have it)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from relayport.model.chat import ChatRequest, Message, Thinking, Tool, ToolChoice
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
from relayport.model.http import UpstreamRequest
from relayport.provider import Deployment
from relayport_anthropic import jsonmode, server_tools, vocab

# OpenAI-chat request fields that mean the same thing on the Messages API and that the OpenAI
# surface keeps in `extra` (it has no canonical home for them).
_EXTRA_FIELDS = ("top_k", "metadata", "container", "mcp_servers", "context_management",
                 "inference_geo", "cache_control")
# Other extra fields this module reads itself.
_READ_FIELDS = frozenset({*_EXTRA_FIELDS, "service_tier", "output_config", "stream_options"})
_HEADER_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class _Build:
    """State of one translation: the betas it needs and where it is, for error messages."""

    def __init__(self) -> None:
        self.betas: set[str] = set()
        # What was changed to make Claude take the call, for `x-relayport-adjustments`.
        self.adjustments: list[str] = []

    def unsupported(self, what: str, path: str) -> GatewayError:
        return GatewayError(
            400,
            f"Claude models do not accept {what} input ({path}); send text, images or PDFs.",
            param=path,
            code="unsupported_content",
        )

    def cache_control(self, extra: Mapping[str, Any], out: dict[str, Any]) -> None:
        cc = extra.get("cache_control")
        if isinstance(cc, dict):
            out["cache_control"] = cc
            if cc.get("ttl") == "1h":
                self.betas.add(vocab.BETA_CACHE_TTL_1H)


def build_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    adjustments: list[str] = []
    body, betas = encode_request(request, deployment.model, deployment.options, adjustments)
    headers = request_headers(deployment, betas)
    return UpstreamRequest("POST", endpoint(deployment, vocab.MESSAGES_PATH), headers,
                           orjson.dumps(body), stream=request.stream, adjustments=adjustments)


def endpoint(deployment: Deployment, path: str) -> str:
    """`path` (which starts with /v1) under the base URL, without doubling a `/v1` the
    operator already put at the end of the base URL."""
    if deployment.base_url.rstrip("/").endswith("/v1") and path.startswith("/v1/"):
        path = path[3:]
    return deployment.url(path)


def request_headers(deployment: Deployment, betas: Iterable[str] = (),
                    client: Mapping[str, str] | None = None) -> dict[str, str]:
    """Auth, `anthropic-version` and `anthropic-beta` for one call.

    `client` are the Anthropic client's own headers on passthrough: its version and betas win
    over the defaults, because it knows which API features it is using.
    """
    headers = deployment.auth_headers()
    lower = {k.lower() for k in headers}
    options = deployment.options
    client = client or {}
    if "anthropic-version" not in lower:
        headers["anthropic-version"] = (
            client.get("anthropic-version") or str(options.get("anthropic_version") or vocab.DEFAULT_VERSION)
        )
    all_betas = set(betas)
    configured = options.get("betas")
    if isinstance(configured, str):
        configured = [configured]
    all_betas.update(str(b) for b in configured or ())
    if client.get("anthropic-beta"):
        all_betas.update(b.strip() for b in client["anthropic-beta"].split(",") if b.strip())
    if all_betas and "anthropic-beta" not in lower:
        headers["anthropic-beta"] = ",".join(sorted(all_betas))
    headers["Content-Type"] = "application/json"
    return headers


def encode_request(
    req: ChatRequest, model: str, options: Mapping[str, Any] | None = None,
    adjustments: list[str] | None = None,
) -> tuple[dict[str, Any], set[str]]:
    """The Messages body for `req`, and the `anthropic-beta` values it needs; what had to be
    changed for Claude to take it is appended to `adjustments`."""
    options = options or {}
    if req.n is not None and req.n > 1:
        raise bad_request("Claude models return one choice per call; 'n' must be 1.", param="n")
    b = _Build()
    if adjustments is not None:
        b.adjustments = adjustments
    json_plan = jsonmode.plan(req, model, options)
    system, messages = _encode_messages(req.messages, b)
    if json_plan is not None and json_plan.instruction:
        system.append({"type": "text", "text": json_plan.instruction})
        if json_plan.prefill:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": json_plan.prefill}]})
    body: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        body["system"] = system
    if req.stream:
        body["stream"] = True
    default_max = int(options.get("default_max_tokens") or vocab.DEFAULT_MAX_TOKENS)
    max_tokens = req.max_tokens
    temperature = req.temperature
    top_p = req.top_p
    thinking = _thinking(req.thinking, options)
    if thinking is not None and thinking["type"] != "disabled" and _replay_lacks_thinking(messages):
        # Claude rejects a thinking request whose tool-use turn in progress was replayed
        # without its signed thinking block (clients that drop `thinking_blocks`). Answering
        # without thinking beats a 400 the client cannot fix.
        thinking = None
    forced = req.tool_choice is not None and req.tool_choice.mode in ("required", "function")
    if thinking is not None and thinking["type"] != "disabled" and req.tools and forced:
        # Claude refuses thinking with a forced tool. A client that forces a tool (e.g. for
        # structured output through function calling) wants the call more than the thinking.
        thinking = None
        b.adjustments.append("thinking off: tool_choice forces a tool")
    if thinking is not None:
        effort = thinking.pop("_effort", None)
        if effort:
            body.setdefault("output_config", {})["effort"] = effort
        if thinking.get("type") == "enabled":
            budget = thinking["budget_tokens"]
            if max_tokens is None:
                max_tokens = budget + default_max
            elif max_tokens <= budget:
                # OpenAI's max_tokens bounds reasoning and answer together, as Claude's does;
                # the budget has to fit under it.
                if max_tokens <= vocab.MIN_THINKING_BUDGET:
                    raise bad_request(
                        f"Thinking on Claude needs max_tokens above {vocab.MIN_THINKING_BUDGET} "
                        f"(got {max_tokens}); raise max_tokens or turn thinking off.",
                        param="max_tokens",
                    )
                thinking["budget_tokens"] = max(vocab.MIN_THINKING_BUDGET, max_tokens // 2)
            if req.tools and _interleaved(model, options):
                b.betas.add(vocab.BETA_INTERLEAVED_THINKING)
        if thinking.get("type") != "disabled":
            # Thinking runs at temperature 1 and a top_p of at least 0.95; OpenAI clients often
            # send a default temperature that would get the whole call rejected.
            temperature = None
            if top_p is not None:
                top_p = max(0.95, min(1.0, top_p))
        body["thinking"] = thinking
    body["max_tokens"] = max_tokens if max_tokens is not None else default_max
    if temperature is not None:
        body["temperature"] = min(temperature, 1.0)  # OpenAI's range is 0-2, Claude's 0-1
    if top_p is not None:
        body["top_p"] = top_p
    if req.stop:
        body["stop_sequences"] = req.stop
    tools = [_encode_tool(t, b) for t in req.tools or ()]
    if req.enable_search and not any(t.get("name") == "web_search" for t in tools):
        tools.append({"type": "web_search_20250305", "name": "web_search"})
    if tools:
        body["tools"] = tools
        choice = _tool_choice(req.tool_choice, req.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    metadata = _metadata(req, b)
    if metadata:
        body["metadata"] = metadata
    if json_plan is not None:
        if json_plan.output_format is not None:
            body.setdefault("output_config", {})["format"] = json_plan.output_format
        if json_plan.adjustment:
            b.adjustments.append(json_plan.adjustment)
    thinking_on = thinking is not None and thinking["type"] != "disabled"
    for key in _EXTRA_FIELDS:
        if key == "top_k" and thinking_on:
            continue  # refused alongside thinking, like a non-default temperature
        if key in req.extra and key != "metadata":
            body[key] = req.extra[key]
    service_tier = req.extra.get("service_tier")
    if service_tier in ("auto", "standard_only"):
        body["service_tier"] = service_tier
    ignored = [k for k in req.extra if k not in _READ_FIELDS]
    if service_tier is not None and "service_tier" not in body:
        ignored.append("service_tier")  # OpenAI's tiers (flex, priority...) are not Claude's
    if req.seed is not None:
        ignored.append("seed")
    if ignored:
        # OpenAI parameters Claude has no counterpart for (penalties, logit_bias, logprobs,
        # seed...): the call still runs, and the client is told what had no effect.
        b.adjustments.append("ignored by Claude: " + " ".join(_header_word(k) for k in sorted(ignored)))
    output_config = req.extra.get("output_config")
    if isinstance(output_config, dict):
        body["output_config"] = {**output_config, **body.get("output_config", {})}
    return body, b.betas


# ---------------------------------------------------------------- thinking


def _thinking(t: Thinking | None, options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `thinking` object (with the effort to send in `_effort`), or None for model default."""
    if t is None:
        return None
    if t.enabled is False:
        return {"type": "disabled"}
    adaptive = t.kind == "adaptive" or options.get("thinking_mode") == "adaptive"
    if t.enabled is None and t.effort is None and t.budget_tokens is None and not adaptive:
        return None  # e.g. `thinking: {type: "auto"}`: Claude's default is the model's choice
    if adaptive:
        out: dict[str, Any] = {"type": "adaptive"}
        if t.effort:
            out["_effort"] = vocab.NATIVE_EFFORTS.get(t.effort, t.effort)
        return out
    budget = t.budget_tokens
    if budget is None:
        table = {**vocab.EFFORT_BUDGETS, **(options.get("effort_budgets") or {})}
        budget = table.get(t.effort or "medium", table["medium"])
    return {"type": "enabled", "budget_tokens": max(vocab.MIN_THINKING_BUDGET, int(budget))}


def _interleaved(model: str, options: Mapping[str, Any]) -> bool:
    flag = options.get("interleaved_thinking")
    if flag is not None:
        return bool(flag)
    return not model.startswith("claude-3")


def _replay_lacks_thinking(messages: list[dict[str, Any]]) -> bool:
    """True when the conversation is inside a tool-use loop whose assistant turn has no
    leading thinking block (what Claude demands when thinking is on)."""
    if len(messages) < 2 or messages[-1]["role"] != "user":
        return False
    last = messages[-1]["content"]
    if not any(b.get("type") == "tool_result" for b in last):
        return False
    prev = messages[-2]
    if prev["role"] != "assistant" or not prev["content"]:
        return False
    return prev["content"][0].get("type") not in ("thinking", "redacted_thinking")


# ---------------------------------------------------------------- messages


def _encode_messages(
    messages: list[Message], b: _Build
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        path = f"messages[{i}]"
        if m.role in ("system", "developer"):
            # Claude has one top-level system prompt; system turns anywhere in the history
            # are hoisted into it in order.
            system.extend(_system_blocks(m, path, b))
            continue
        if m.role == "tool":
            role = "user"
            content = [_tool_result(x, f"{path}.content", b) for x in m.content
                       if isinstance(x, ToolResultBlock)]
        elif m.role == "assistant":
            role = "assistant"
            content = _assistant_blocks(m, path, b)
        else:
            role = "user"
            content = _user_blocks(m, path, b)
        if content and isinstance(m.extra.get("cache_control"), dict):
            b.cache_control(m.extra, content[-1])
        if not content:
            continue  # Claude rejects empty turns; an empty message says nothing anyway
        if out and out[-1]["role"] == role:
            # Turns must alternate: merge, e.g. consecutive tool results into one user turn.
            out[-1]["content"].extend(content)
        else:
            out.append({"role": role, "content": content})
    for turn in out:
        if turn["role"] == "user" and len(turn["content"]) > 1:
            # tool_result blocks must lead the user turn that answers a tool_use.
            turn["content"].sort(key=lambda x: x.get("type") != "tool_result")
    if out and out[-1]["role"] == "assistant":
        _trim_prefill(out[-1]["content"])
        if not out[-1]["content"]:
            out.pop()
    if not out:
        if not system:
            raise bad_request("The conversation has no user or assistant message.", param="messages")
        # OpenAI takes a lone system message; Claude needs a user turn, so it becomes one.
        out.append({"role": "user", "content": system})
        system = []
    return system, out


def _trim_prefill(content: list[dict[str, Any]]) -> None:
    """A final assistant turn (prefill) may not end in whitespace."""
    while content and content[-1].get("type") == "text":
        text = content[-1]["text"].rstrip()
        if text:
            content[-1]["text"] = text
            return
        content.pop()


def _system_blocks(m: Message, path: str, b: _Build) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, block in enumerate(m.content):
        if isinstance(block, TextBlock):
            if block.text.strip():
                part: dict[str, Any] = {"type": "text", "text": block.text}
                b.cache_control(block.extra, part)
                out.append(part)
        else:
            raise bad_request(f"A system message may hold only text ({path}.content[{j}]).",
                              param=f"{path}.content[{j}]")
    if out and isinstance(m.extra.get("cache_control"), dict):
        b.cache_control(m.extra, out[-1])
    return out


def _text(block: TextBlock, b: _Build) -> dict[str, Any] | None:
    if not block.text.strip():
        return None  # Claude rejects empty and whitespace-only text blocks
    out: dict[str, Any] = {"type": "text", "text": block.text}
    b.cache_control(block.extra, out)
    return out


def _user_blocks(m: Message, path: str, b: _Build) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, block in enumerate(m.content):
        p = f"{path}.content[{j}]"
        if isinstance(block, ToolResultBlock):
            out.append(_tool_result(block, p, b))
        elif isinstance(block, (ThinkingBlock, RedactedThinkingBlock, ToolCallBlock)):
            raise bad_request(f"A user message cannot hold {type(block).__name__} ({p}).", param=p)
        else:
            part = _media_or_text(block, p, b)
            if part is not None:
                out.append(part)
    return out


def _assistant_blocks(m: Message, path: str, b: _Build) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, block in enumerate(m.content):
        p = f"{path}.content[{j}]"
        if isinstance(block, ThinkingBlock):
            # Only Claude's own, signed thinking can go back; reasoning text from elsewhere
            # (another vendor, or a client that kept only `reasoning_content`) cannot.
            if block.signature:
                out.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
        elif isinstance(block, RedactedThinkingBlock):
            if block.data:  # empty data cannot be Claude's and would fail its check
                out.append({"type": "redacted_thinking", "data": block.data})
        elif isinstance(block, ToolCallBlock):
            out.append(_tool_use(block, p))
        elif isinstance(block, TextBlock):
            part = _text(block, b)
            if part is not None:
                out.append(part)
        elif isinstance(block, RawBlock):
            out.append(_raw(block, p))
        else:
            raise bad_request(f"An assistant message cannot hold {type(block).__name__} ({p}).",
                              param=p)
    return out


def _tool_use(block: ToolCallBlock, path: str) -> dict[str, Any]:
    args: Any = {}
    if block.arguments.strip():
        try:
            args = orjson.loads(block.arguments)
        except orjson.JSONDecodeError:
            raise bad_request(
                f"Tool call arguments are not valid JSON ({path}); Claude needs a JSON object.",
                param=path,
            ) from None
    if not isinstance(args, dict):
        raise bad_request(f"Tool call arguments must be a JSON object for Claude ({path}).",
                          param=path)
    return {"type": "tool_use", "id": vocab.tool_id(block.id), "name": block.name, "input": args}


def _tool_result(block: ToolResultBlock, path: str, b: _Build) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": vocab.tool_id(block.tool_call_id)}
    parts: list[dict[str, Any]] = []
    for j, x in enumerate(block.content):
        if isinstance(x, TextBlock):
            # Inside a tool result an empty text is a legitimate answer ("no output").
            part: dict[str, Any] = {"type": "text", "text": x.text}
            b.cache_control(x.extra, part)
            if x.text:
                parts.append(part)
        else:
            media = _media_or_text(x, f"{path}.content[{j}]", b)
            if media is not None:
                parts.append(media)
    if parts:
        if all(p["type"] == "text" and len(p) == 2 for p in parts):
            out["content"] = "".join(p["text"] for p in parts)
        else:
            out["content"] = parts
    if block.is_error:
        out["is_error"] = True
    b.cache_control(block.extra, out)
    return out


def _media_or_text(block: Block, path: str, b: _Build) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        return _text(block, b)
    if isinstance(block, ImageBlock):
        return _image(block, path, b)
    if isinstance(block, FileBlock):
        return _document(block, path, b)
    if isinstance(block, VideoBlock):
        raise b.unsupported("video", path)
    if isinstance(block, AudioBlock):
        raise b.unsupported("audio", path)
    if isinstance(block, RawBlock):
        return _raw(block, path)
    raise bad_request(f"Unexpected {type(block).__name__} here ({path}).", param=path)


def _raw(block: RawBlock, path: str) -> dict[str, Any]:
    kind = block.data.get("type")
    if block.extra.get("format") == "anthropic" or kind in vocab.PASSTHROUGH_BLOCK_TYPES:
        return block.data
    raise GatewayError(
        400,
        f"Claude models do not accept content of type {kind!r} ({path}).",
        param=path,
        code="unsupported_content",
    )


def _split_data_url(url: str, path: str) -> tuple[str, str]:
    header, sep, data = url[5:].partition(",")
    if not sep or ";base64" not in header:
        raise bad_request(f"Only base64 data URLs are supported ({path}).", param=path)
    return header.split(";", 1)[0], data


def _sniff_image(data: str) -> str:
    """The media type of base64 image data from its first bytes (clients often omit it)."""
    if data.startswith("/9j/"):
        return "image/jpeg"
    if data.startswith("iVBOR"):
        return "image/png"
    if data.startswith("R0lGOD"):
        return "image/gif"
    if data.startswith("UklGR"):
        return "image/webp"
    return "image/png"


def _image(block: ImageBlock, path: str, b: _Build) -> dict[str, Any]:
    data, media_type = block.data, block.media_type
    if data is None and block.url and block.url.startswith("data:"):
        media_type, data = _split_data_url(block.url, path)
    if data is not None:
        media_type = (media_type or "").lower()
        if media_type == "image/jpg":
            media_type = "image/jpeg"
        if media_type not in vocab.IMAGE_MEDIA_TYPES:
            media_type = _sniff_image(data)
        source: dict[str, Any] = {"type": "base64", "media_type": media_type, "data": data}
    elif block.url and block.url.startswith(("http://", "https://")):
        source = {"type": "url", "url": block.url}
    elif block.extra.get("file_id"):
        source = {"type": "file", "file_id": block.extra["file_id"]}
        b.betas.add(vocab.BETA_FILES)
    else:
        raise bad_request(f"An image needs an http(s) URL or base64 data ({path}).", param=path)
    out: dict[str, Any] = {"type": "image", "source": source}
    b.cache_control(block.extra, out)
    return out


def _document(block: FileBlock, path: str, b: _Build) -> dict[str, Any]:
    data, media_type = block.data, block.media_type
    url = block.url
    if data is None and url and url.startswith("data:"):
        media_type, data = _split_data_url(url, path)
        url = None
    media_type = (media_type or "").lower()
    if media_type.startswith("image/"):
        return _image(ImageBlock(url=url, data=data, media_type=media_type, extra=block.extra), path, b)
    if data is not None:
        if media_type in ("", "application/pdf"):
            source: dict[str, Any] = {"type": "base64", "media_type": "application/pdf", "data": data}
        elif media_type.startswith("text/"):
            try:
                text = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                text = data  # some clients send text documents unencoded
            source = {"type": "text", "media_type": "text/plain", "data": text}
        else:
            raise GatewayError(
                400,
                f"Claude documents are PDF or plain text; got {media_type} ({path}).",
                param=path,
                code="unsupported_content",
            )
    elif block.file_id:
        source = {"type": "file", "file_id": block.file_id}
        b.betas.add(vocab.BETA_FILES)
    elif url and url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        raise bad_request(f"A file needs an http(s) URL, base64 data or a file id ({path}).",
                          param=path)
    out: dict[str, Any] = {"type": "document", "source": source}
    if block.filename:
        out["title"] = block.filename
    for key in ("context", "citations"):
        if key in block.extra:
            out[key] = block.extra[key]
    b.cache_control(block.extra, out)
    return out


# ---------------------------------------------------------------- tools


def _encode_tool(t: Tool, b: _Build) -> dict[str, Any]:
    if t.type != "function":
        server = server_tools.encode(t)
        if server is not None:
            if server[1]:
                b.betas.add(server[1])
            return server[0]
        # Anthropic server tools (web_search_*, code_execution_*, ...) are sent as given.
        if t.extra:
            return dict(t.extra)
        raise bad_request(f"Tool type {t.type!r} is not supported by Claude models.", param="tools")
    out: dict[str, Any] = {
        "name": t.name,
        "input_schema": t.parameters or {"type": "object", "properties": {}},
    }
    if t.description:
        out["description"] = t.description
    if t.strict is not None:
        out["strict"] = t.strict
    b.cache_control(t.extra, out)
    return out


def _tool_choice(tc: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    if tc is None:
        out: dict[str, Any] = {"type": "auto"}
    elif tc.mode == "none":
        return {"type": "none"}  # takes no disable_parallel_tool_use
    elif tc.mode == "required":
        out = {"type": "any"}
    elif tc.mode == "function":
        out = {"type": "tool", "name": tc.name}
    else:
        out = {"type": "auto"}
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    elif tc is None:
        return None  # Claude's default is auto with parallel calls, as OpenAI's is
    return out


def _metadata(req: ChatRequest, b: _Build) -> dict[str, Any]:
    """Claude's `metadata` takes `user_id` only and refuses other keys: OpenAI's free-form
    metadata keeps its `user_id` (OpenAI's `user` wins), the rest is dropped and announced."""
    out: dict[str, Any] = {}
    raw = req.extra.get("metadata")
    if raw is not None:
        if not isinstance(raw, dict):
            raise bad_request("'metadata' must be an object.", param="metadata")
        if isinstance(raw.get("user_id"), str):
            out["user_id"] = raw["user_id"]
        dropped = [_header_word(k) for k in raw if not (k == "user_id" and "user_id" in out)]
        if dropped:
            b.adjustments.append("metadata keys dropped: " + " ".join(dropped))
    if req.user:
        out["user_id"] = req.user
    return out


def _header_word(name: Any) -> str:
    """A client-chosen key as it may appear in the adjustments header (no commas, no breaks)."""
    return _HEADER_UNSAFE.sub("_", str(name))[:64]
