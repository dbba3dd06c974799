"""The Gemini API wire format <-> canonical, for Gemini clients calling any model.

Requests: `contents` (roles user/model, parts), `systemInstruction`, `generationConfig`,
`tools`/`toolConfig` -> `ChatRequest`; `functionResponse` parts become tool messages answering
the calls of the model turn before them (by id, else by name in order).
Responses and streams: canonical -> `GenerateContentResponse` chunks; a stream's function
calls are sent whole, as Gemini sends them, when their arguments are complete.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from relayport.model.chat import ChatRequest, ChatResponse, Message, Thinking, Tool, ToolChoice
from relayport.model.content import (
    AudioBlock,
    Block,
    FileBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
    VideoBlock,
)
from relayport.model.errors import GatewayError, bad_request
from relayport.model.stream import (
    AudioDelta,
    Finish,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.model.usage import Usage
from relayport_gemini import vocab
from relayport_gemini.errors import envelope
from relayport_gemini.usage import encode_usage


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"Invalid JSON payload received. '{path}' must be an object.", param=path)
    return value


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI `Schema` spells types in capitals (`OBJECT`); JSON Schema does not."""
    if isinstance(schema, list):
        return [_lower_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _lower_types(v) for k, v in schema.items()}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _media(part: dict[str, Any], path: str) -> Block:
    if "inlineData" in part:
        inline = _obj(part["inlineData"], f"{path}.inlineData")
        mime = str(inline.get("mimeType") or "")
        data = inline.get("data")
        if not mime or not isinstance(data, str):
            raise bad_request(f"'{path}.inlineData' needs mimeType and data.", param=f"{path}.inlineData")
        if mime.startswith("image/"):
            return ImageBlock(url=f"data:{mime};base64,{data}", data=data, media_type=mime)
        if mime.startswith("audio/"):
            return AudioBlock(data=data, format=mime.split("/", 1)[1])
        if mime.startswith("video/"):
            return VideoBlock(url=f"data:{mime};base64,{data}")
        return FileBlock(data=data, media_type=mime)
    file_data = _obj(part["fileData"], f"{path}.fileData")
    uri = file_data.get("fileUri")
    if not isinstance(uri, str):
        raise bad_request(f"'{path}.fileData.fileUri' is required.", param=f"{path}.fileData.fileUri")
    mime = str(file_data.get("mimeType") or "")
    if mime.startswith("image/"):
        return ImageBlock(url=uri)
    if mime.startswith("audio/"):
        return AudioBlock(url=uri)
    if mime.startswith("video/") or "youtube.com" in uri or "youtu.be" in uri:
        return VideoBlock(url=uri)
    return FileBlock(url=uri, media_type=mime or None)


def _tool_result_text(response: Any) -> str:
    # {"result": "text"} (what Gemini clients most often send) reads best as the text itself.
    if isinstance(response, dict) and set(response) in ({"result"}, {"output"}) and isinstance(
            next(iter(response.values())), str):
        return str(next(iter(response.values())))
    return orjson.dumps(response).decode()


def decode_request(body: dict[str, Any], model: str, stream: bool) -> ChatRequest:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise bad_request("* GenerateContentRequest.contents: contents is not specified", param="contents")
    messages: list[Message] = []
    system = body.get("systemInstruction")
    if system is not None:
        parts = _obj(system, "systemInstruction").get("parts") or []
        text = "\n".join(str(p.get("text")) for p in parts if isinstance(p, dict) and "text" in p)
        if text:
            messages.append(Message("system", [TextBlock(text)]))
    pending: list[tuple[str, str]] = []  # (id, name) of calls awaiting their responses
    for i, content in enumerate(contents):
        path = f"contents[{i}]"
        c = _obj(content, path)
        role = c.get("role") or "user"
        parts = c.get("parts")
        if not isinstance(parts, list):
            raise bad_request(f"'{path}.parts' must be a list of parts.", param=f"{path}.parts")
        if role == "model":
            blocks: list[Block] = []
            pending = []
            for j, p in enumerate(parts):
                p = _obj(p, f"{path}.parts[{j}]")
                if isinstance(p.get("text"), str):
                    blocks.append(ThinkingBlock(p["text"]) if p.get("thought") else TextBlock(p["text"]))
                elif "functionCall" in p:
                    fc = _obj(p["functionCall"], f"{path}.parts[{j}].functionCall")
                    call_id = str(fc.get("id") or f"call_{i}_{j}")
                    name = str(fc.get("name") or "")
                    pending.append((call_id, name))
                    blocks.append(ToolCallBlock(call_id, name, orjson.dumps(fc.get("args") or {}).decode()))
            messages.append(Message("assistant", blocks))
        elif role in ("user", "function"):
            user: list[Block] = []
            for j, p in enumerate(parts):
                p = _obj(p, f"{path}.parts[{j}]")
                if "functionResponse" in p:
                    fr = _obj(p["functionResponse"], f"{path}.parts[{j}].functionResponse")
                    name, given = str(fr.get("name") or ""), fr.get("id")
                    match = next((c for c in pending if c[0] == given), None) or \
                        next((c for c in pending if c[1] == name), None)
                    if match is None:
                        raise bad_request(
                            f"'{path}.parts[{j}].functionResponse' ({name!r}) answers no function call of the "
                            "model turn before it.", param=f"{path}.parts[{j}].functionResponse")
                    pending.remove(match)
                    messages.append(Message("tool", [ToolResultBlock(match[0], [TextBlock(
                        _tool_result_text(fr.get("response")))])]))
                elif isinstance(p.get("text"), str):
                    user.append(TextBlock(p["text"]))
                elif "inlineData" in p or "fileData" in p:
                    user.append(_media(p, f"{path}.parts[{j}]"))
            if user:
                messages.append(Message("user", user))
        else:
            raise bad_request(f"Please use a valid role: user, model. ('{path}.role': {role!r})",
                              param=f"{path}.role")
    req = ChatRequest(model=model, messages=messages, stream=stream, include_usage=stream)
    _generation(req, body.get("generationConfig"))
    _tools(req, body)
    return req


def _generation(req: ChatRequest, gen: Any) -> None:
    if gen is None:
        return
    gen = _obj(gen, "generationConfig")
    req.temperature = gen.get("temperature")
    req.top_p = gen.get("topP")
    req.max_tokens = gen.get("maxOutputTokens")
    req.seed = gen.get("seed")
    stop = gen.get("stopSequences")
    req.stop = [str(s) for s in stop] if isinstance(stop, list) and stop else None
    if isinstance(gen.get("candidateCount"), int) and gen["candidateCount"] > 1:
        req.n = gen["candidateCount"]
    for camel, snake in (("topK", "top_k"), ("presencePenalty", "presence_penalty"),
                         ("frequencyPenalty", "frequency_penalty")):
        if gen.get(camel) is not None:
            req.extra[snake] = gen[camel]
    if gen.get("responseMimeType") == "application/json":
        schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
        req.response_format = ({"type": "json_schema", "json_schema": {"name": "response",
                                                                       "schema": _lower_types(schema)}}
                               if isinstance(schema, dict) else {"type": "json_object"})
    _speech(req, gen)
    thinking = gen.get("thinkingConfig")
    if isinstance(thinking, dict):
        t = Thinking()
        budget = thinking.get("thinkingBudget")
        level = thinking.get("thinkingLevel")
        if budget == 0:
            t.enabled = False
        elif isinstance(budget, int) and budget > 0:
            t.enabled, t.budget_tokens = True, budget
        elif budget == -1:
            t.enabled = True
        if isinstance(level, str):
            t.enabled, t.effort = True, level.lower()
        if t.enabled is not None:
            req.thinking = t


# Gemini's spoken output is 24 kHz 16-bit PCM; OpenAI-format vendors call that `pcm16`.
PCM_TYPE = "audio/L16;codec=pcm;rate=24000"


def _speech(req: ChatRequest, gen: dict[str, Any]) -> None:
    """`responseModalities` with AUDIO (and `speechConfig`'s prebuilt voice) -> OpenAI chat's
    `modalities` + `audio`, which OpenAI-format vendors with spoken output (Qwen-Omni) take."""
    modalities = gen.get("responseModalities")
    if not isinstance(modalities, list) or "AUDIO" not in [str(m).upper() for m in modalities]:
        return
    req.extra["modalities"] = ["text", "audio"]
    # Gemini takes proto JSON, where either spelling of a field name is valid (the google-genai
    # SDK sends the nested speech config in snake_case).
    voice: Any = gen.get("speechConfig", gen.get("speech_config"))
    for camel, snake in (("voiceConfig", "voice_config"), ("prebuiltVoiceConfig", "prebuilt_voice_config"),
                         ("voiceName", "voice_name")):
        voice = voice.get(camel, voice.get(snake)) if isinstance(voice, dict) else None
    req.extra["audio"] = {"format": "pcm16", **({"voice": voice} if isinstance(voice, str) else {})}


def _tools(req: ChatRequest, body: dict[str, Any]) -> None:
    tools: list[Tool] = []
    for i, t in enumerate(body.get("tools") or ()):
        t = _obj(t, f"tools[{i}]")
        for j, d in enumerate(t.get("functionDeclarations") or ()):
            d = _obj(d, f"tools[{i}].functionDeclarations[{j}]")
            params = d.get("parametersJsonSchema") or _lower_types(d.get("parameters"))
            tools.append(Tool(name=str(d.get("name") or ""), description=d.get("description"),
                              parameters=params if isinstance(params, dict) else {"type": "object",
                                                                                   "properties": {}}))
        if "googleSearch" in t or "googleSearchRetrieval" in t:
            req.enable_search = True
    if tools:
        req.tools = tools
    config = (body.get("toolConfig") or {}).get("functionCallingConfig")
    if isinstance(config, dict):
        mode = str(config.get("mode") or "AUTO").upper()
        names = config.get("allowedFunctionNames") or []
        if mode == "NONE":
            req.tool_choice = ToolChoice("none")
        elif mode in ("ANY", "VALIDATED") and len(names) == 1:
            req.tool_choice = ToolChoice("function", str(names[0]))
        elif mode == "ANY":
            req.tool_choice = ToolChoice("required")
        else:
            req.tool_choice = ToolChoice("auto")


# ---------------------------------------------------------------------------- responses


def _args(text: str) -> Any:
    try:
        return orjson.loads(text) if text.strip() else {}
    except orjson.JSONDecodeError:
        return {"_raw": text}  # a vendor's malformed arguments, kept rather than lost


def encode_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    candidates = []
    for c in resp.choices:
        parts: list[dict[str, Any]] = []
        for b in c.message.content:
            if isinstance(b, ThinkingBlock) and b.text:
                parts.append({"text": b.text, "thought": True})
            elif isinstance(b, TextBlock) and b.text:
                parts.append({"text": b.text})
            elif isinstance(b, ToolCallBlock):
                parts.append({"functionCall": {"id": b.id, "name": b.name, "args": _args(b.arguments)}})
        candidates.append({"content": {"role": "model", "parts": parts or [{"text": ""}]},
                           "finishReason": vocab.FINISH_FROM_OPENAI.get(c.finish_reason or "stop", "OTHER"),
                           "index": c.index})
    out: dict[str, Any] = {"candidates": candidates, "modelVersion": model,
                           "responseId": resp.id or secrets.token_hex(8)}
    if resp.usage is not None:
        out["usageMetadata"] = encode_usage(resp.usage)
    return out


class StreamEncoder:
    """Canonical stream events -> Gemini chunks, as SSE (`alt=sse`) or one JSON array.

    One chunk per batch (what arrived in one upstream read); function calls are held until
    their arguments are complete, then sent whole; the finish reason and the usage go in the
    last chunk, which is written when the stream ends (usage may follow the finish).
    """

    def __init__(self, model: str, sse: bool) -> None:
        self.model = model
        self.sse = sse
        self.response_id = secrets.token_hex(8)
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._count = 0

    def _frame(self, obj: dict[str, Any]) -> bytes:
        data = orjson.dumps(obj)
        self._count += 1
        if self.sse:
            return b"data: " + data + b"\r\n\r\n"
        return (b"[" if self._count == 1 else b",\r\n") + data

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        obj: dict[str, Any] = {"candidates": [cand], "modelVersion": self.model, "responseId": self.response_id}
        if finish and self._usage is not None:
            obj["usageMetadata"] = encode_usage(self._usage)
        return self._frame(obj)

    def encode(self, events: list[StreamEvent]) -> bytes:
        parts: list[dict[str, Any]] = []
        out: list[bytes] = []
        for ev in events:
            if isinstance(ev, TextDelta):
                if parts and "text" in parts[-1] and not parts[-1].get("thought"):
                    parts[-1]["text"] += ev.text
                elif ev.text:
                    parts.append({"text": ev.text})
            elif isinstance(ev, ReasoningDelta):
                if parts and parts[-1].get("thought"):
                    parts[-1]["text"] += ev.text
                elif ev.text:
                    parts.append({"text": ev.text, "thought": True})
            elif isinstance(ev, ToolCallDelta):
                call = self._calls.setdefault(ev.index, ["", "", ""])
                call[0] = ev.id or call[0]
                call[1] = ev.name or call[1]
                call[2] += ev.arguments
            elif isinstance(ev, UsageUpdate):
                self._usage = ev.usage
            elif isinstance(ev, Finish):
                self._finish = vocab.FINISH_FROM_OPENAI.get(ev.reason, "OTHER")
            elif isinstance(ev, StreamError):
                if parts:
                    out.append(self._chunk(parts))
                out.append(self.error(ev.error))
                return b"".join(out)
            elif isinstance(ev, StreamStart):
                continue
            elif isinstance(ev, AudioDelta):
                # Spoken output as Gemini sends it: `inlineData` audio parts; its transcript as text.
                if ev.transcript:
                    if parts and "text" in parts[-1] and not parts[-1].get("thought"):
                        parts[-1]["text"] += ev.transcript
                    else:
                        parts.append({"text": ev.transcript})
                if ev.data:
                    parts.append({"inlineData": {"mimeType": ev.media_type or PCM_TYPE, "data": ev.data}})
        if parts:
            out.append(self._chunk(parts))
        return b"".join(out)

    def end(self) -> bytes:
        """The last chunk (held function calls, finish reason, usage) and the array's end."""
        parts: list[dict[str, Any]] = [{"functionCall": {"id": cid, "name": name, "args": _args(args)}}
                 for cid, name, args in (self._calls[i] for i in sorted(self._calls))]
        self._calls = {}
        data = self._chunk(parts or [{"text": ""}], self._finish or "STOP")
        return data if self.sse else data + b"]"

    def error(self, err: GatewayError) -> bytes:
        data = self._frame(envelope(err))
        return data if self.sse else data + b"]"
