"""Canonical `ChatRequest` -> a Converse / ConverseStream request.

Converse is Bedrock's one chat format for every model family (Claude, Llama, Nova, Mistral...):
`system` text blocks, `messages` that alternate user/assistant and start with a user turn
(tool results are user content), `inferenceConfig`, `toolConfig`, and model-specific fields in
`additionalModelRequestFields` (Claude's `thinking`). Blobs (image and document bytes) are
base64 in the JSON.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Any
from urllib.parse import urlsplit

import orjson

from relayport.model.chat import ChatRequest, Message
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
from relayport.model.errors import bad_request
from relayport.model.http import UpstreamRequest
from relayport.provider import Deployment
from relayport.urlguard import Fetched
from relayport_bedrock import vocab

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}
_DOC_FORMATS = {"application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
                "application/vnd.ms-excel": "xls",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
                "text/html": "html", "text/plain": "txt", "text/markdown": "md"}
# Claude's thinking budget when the client asked for thinking without a size.
_THINKING_DEFAULT_BUDGET = 4096
_EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


def urls_to_fetch(request: ChatRequest) -> list[str]:
    """http(s) image and document URLs: Converse takes bytes (or S3), never a web URL."""
    urls: list[str] = []
    for m in request.messages:
        for b in _walk(m.content):
            if isinstance(b, (ImageBlock, FileBlock)) and not b.data and (b.url or "").startswith(("http://", "https://")):
                urls.append(b.url)  # type: ignore[arg-type]
    return urls


def _walk(blocks: list[Block]) -> list[Block]:
    out: list[Block] = []
    for b in blocks:
        out.append(b)
        if isinstance(b, ToolResultBlock):
            out.extend(b.content)
    return out


def build_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    notes: list[str] = []
    body = encode(request, deployment.model, notes)
    action = "converse-stream" if request.stream else "converse"
    headers = {**deployment.auth_headers(), "Content-Type": "application/json", "Accept": "application/json"}
    return UpstreamRequest("POST", deployment.url(vocab.path(deployment.model, action)), headers,
                           orjson.dumps(body), stream=request.stream, adjustments=notes)


def encode(req: ChatRequest, model: str, notes: list[str]) -> dict[str, Any]:
    if req.n is not None and req.n > 1:
        raise bad_request("Bedrock answers one choice per call: 'n' must be 1.", param="n")
    system: list[dict[str, Any]] = []
    turns = _Turns()
    for i, m in enumerate(req.messages):
        path = f"messages[{i}]"
        if m.role in ("system", "developer"):
            text = "".join(b.text for b in m.content if isinstance(b, TextBlock))
            if text:
                system.append({"text": text})
        elif m.role == "assistant":
            turns.add("assistant", _assistant(m))
        elif m.role == "tool":
            turns.add("user", [_tool_result(b, req.fetched, path) for b in m.content if isinstance(b, ToolResultBlock)])
        else:
            turns.add("user", _user(m, req.fetched, path))
    if turns.merged:
        notes.append("consecutive messages of one role joined")
    body: dict[str, Any] = {"messages": turns.messages}
    _json_instruction(req, system, notes)
    if system and not vocab.takes_system(model):
        first = turns.messages[0]["content"] if turns.messages and turns.messages[0]["role"] == "user" else None
        if first is None:
            raise bad_request(f"Model {model!r} on Bedrock takes no system prompt and there is no user turn "
                              "to put it in.", param="messages")
        first[:0] = system
        notes.append("system prompt sent as user text")
    elif system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if req.max_tokens is not None:
        inference["maxTokens"] = req.max_tokens
    if req.temperature is not None:
        inference["temperature"] = req.temperature
    if req.top_p is not None:
        inference["topP"] = req.top_p
    if req.stop:
        inference["stopSequences"] = list(req.stop)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(req)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    thinking = _thinking(req, model, inference, notes)
    if thinking is not None:
        body["additionalModelRequestFields"] = {"thinking": thinking}
    if req.seed is not None:
        notes.append("seed dropped")  # Converse has no seed
    return body


class _Turns:
    """Messages that alternate roles: a run of one role becomes one message (Converse refuses
    two user turns in a row, and an OpenAI tool message followed by user text is one)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.merged = False

    def add(self, role: str, content: list[dict[str, Any]]) -> None:
        if not content:
            return
        if self.messages and self.messages[-1]["role"] == role:
            last = self.messages[-1]["content"]
            # Tool results, and the user's words after them, are one user turn in Converse
            # anyway: only joining two messages the client sent apart is worth announcing.
            if "toolResult" not in last[-1] and "toolResult" not in content[0]:
                self.merged = True
            last.extend(content)
        else:
            self.messages.append({"role": role, "content": content})


def _user(m: Message, fetched: dict[str, Fetched], path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, b in enumerate(m.content):
        where = f"{path}.content[{j}]"
        if isinstance(b, TextBlock):
            if b.text:
                out.append({"text": b.text})
        elif isinstance(b, ImageBlock):
            out.append({"image": _image(b, fetched, where)})
        elif isinstance(b, FileBlock):
            out.append({"document": _document(b, fetched, where, j)})
        elif isinstance(b, ToolResultBlock):
            out.append(_tool_result(b, fetched, where))
        else:
            raise bad_request(f"Bedrock Converse does not take this content in '{where}'.", param=where)
    return out


def _assistant(m: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in m.content:
        if isinstance(b, ThinkingBlock):
            # Claude checks the signature of replayed thinking; unsigned text (another
            # vendor's reasoning) cannot go back as reasoning.
            if b.signature:
                out.append({"reasoningContent": {"reasoningText": {"text": b.text, "signature": b.signature}}})
        elif isinstance(b, RedactedThinkingBlock):
            out.append({"reasoningContent": {"redactedContent": b.data}})
        elif isinstance(b, TextBlock):
            if b.text:
                out.append({"text": b.text})
        elif isinstance(b, ToolCallBlock):
            out.append({"toolUse": {"toolUseId": b.id, "name": b.name, "input": _arguments(b)}})
    return out


def _arguments(call: ToolCallBlock) -> Any:
    try:
        args = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        raise bad_request(f"Tool call {call.id!r} has arguments that are not JSON.") from None
    return args if isinstance(args, dict) else {"value": args}


def _tool_result(b: ToolResultBlock, fetched: dict[str, Fetched], path: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for k, part in enumerate(b.content):
        if isinstance(part, TextBlock):
            content.append({"text": part.text})
        elif isinstance(part, ImageBlock):
            content.append({"image": _image(part, fetched, f"{path}.content[{k}]")})
    result: dict[str, Any] = {"toolUseId": b.tool_call_id, "content": content or [{"text": ""}]}
    if b.is_error:
        result["status"] = "error"
    return {"toolResult": result}


def _bytes_of(url: str | None, data: str | None, media_type: str | None,
              fetched: dict[str, Fetched], path: str) -> tuple[str, str | None]:
    """(base64, media type) from inline data, a data URL or a fetched http(s) URL."""
    if data:
        return data, media_type
    url = url or ""
    if url.startswith("data:"):
        header, sep, payload = url[5:].partition(",")
        if not sep or ";base64" not in header:
            raise bad_request(f"Malformed data URL in '{path}': expected data:<type>;base64,<data>.", param=path)
        return payload, header.split(";", 1)[0] or media_type
    got = fetched.get(url)
    if got is None:
        raise bad_request(f"Bedrock takes images and documents as bytes: '{path}' needs a data URL or "
                          "an http(s) URL.", param=path, code="invalid_url")
    kind = got.content_type if got.content_type not in (None, "", "application/octet-stream") else None
    return base64.b64encode(got.body).decode(), kind or media_type or mimetypes.guess_type(urlsplit(url).path)[0]


def _image(b: ImageBlock, fetched: dict[str, Fetched], path: str) -> dict[str, Any]:
    data, kind = _bytes_of(b.url, b.data, b.media_type, fetched, path)
    fmt = _IMAGE_FORMATS.get((kind or "").split(";")[0].lower())
    if fmt is None:
        raise bad_request(f"Bedrock takes png, jpeg, gif or webp images; '{path}' is {kind or 'of unknown type'}.",
                          param=path)
    return {"format": fmt, "source": {"bytes": data}}


def _document(b: FileBlock, fetched: dict[str, Fetched], path: str, index: int) -> dict[str, Any]:
    if b.file_id and not (b.data or b.url):
        raise bad_request(f"Bedrock has no file ids: send the document's bytes in '{path}'.", param=path)
    data, kind = _bytes_of(b.url, b.data, b.media_type or "application/pdf", fetched, path)
    fmt = _DOC_FORMATS.get((kind or "").split(";")[0].lower())
    if fmt is None:
        raise bad_request(f"Bedrock does not take documents of type {kind!r} ('{path}').", param=path)
    # Names: letters, digits, spaces, hyphens, parentheses and brackets only.
    stem = "".join(c for c in (b.filename or "").rsplit(".", 1)[0] if c.isalnum() or c in " -()[]").strip()
    return {"format": fmt, "name": stem or f"document {index + 1}", "source": {"bytes": data}}


def _tool_config(req: ChatRequest) -> dict[str, Any] | None:
    if not req.tools:
        return None
    choice = req.tool_choice
    if choice is not None and choice.mode == "none":
        return None  # Converse has no "none": the tools are not offered at all
    tools = []
    for t in req.tools:
        if t.type != "function":
            raise bad_request(f"Bedrock Converse takes function tools only, not {t.type!r}.", param="tools")
        spec: dict[str, Any] = {"name": t.name, "inputSchema": {"json": t.parameters or {"type": "object",
                                                                                         "properties": {}}}}
        if t.description:
            spec["description"] = t.description
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    if choice is not None:
        if choice.mode == "required":
            config["toolChoice"] = {"any": {}}
        elif choice.mode in ("function", "tool") and choice.name:
            config["toolChoice"] = {"tool": {"name": choice.name}}
        elif choice.mode == "auto":
            config["toolChoice"] = {"auto": {}}
    return config


def _thinking(req: ChatRequest, model: str, inference: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """Claude's extended thinking, the one reasoning switch Converse passes through for it."""
    t = req.thinking
    if t is None or not vocab.is_claude(model):
        return None
    if t.enabled is False or (t.enabled is None and t.effort is None and t.budget_tokens is None):
        return None  # off, or the model's default (off for Claude)
    budget = t.budget_tokens or _EFFORT_BUDGET.get(t.effort or "", _THINKING_DEFAULT_BUDGET)
    budget = max(budget, 1024)  # Claude's minimum
    max_tokens = inference.get("maxTokens")
    if max_tokens is None:
        inference["maxTokens"] = budget + _THINKING_DEFAULT_BUDGET  # Claude wants room above the budget
    elif max_tokens <= budget:
        # Claude refuses a budget at or above max_tokens: the answer keeps room of its own.
        inference["maxTokens"] = budget + max_tokens
        notes.append(f"max_tokens raised to {budget + max_tokens} for thinking")
    if "temperature" in inference and inference["temperature"] != 1:
        del inference["temperature"]  # Claude takes no temperature with thinking on
        notes.append("temperature dropped: thinking")
    return {"type": "enabled", "budget_tokens": budget}


def _json_instruction(req: ChatRequest, system: list[dict[str, Any]], notes: list[str]) -> None:
    """Converse has no JSON mode across models: a JSON request becomes an instruction."""
    fmt = req.response_format
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        system.append({"text": "Answer with one JSON object and nothing else."})
        notes.append("response_format sent as an instruction")
    elif kind == "json_schema":
        schema = (fmt or {}).get("json_schema") or {}
        system.append({"text": "Answer with one JSON object and nothing else, matching this JSON schema: "
                       + orjson.dumps(schema.get("schema") or {}).decode()})
        notes.append("response_format sent as an instruction")
