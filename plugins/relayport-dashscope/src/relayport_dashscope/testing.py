"""A fake DashScope for tests: both of its chat APIs on loopback, with the rules it enforces.

Shipped in the package (like `relayport_anthropic.testing`) so that tests outside it, e.g. the
end-to-end tests of other surfaces, can play DashScope too.

- `{url}/compatible-mode/v1/chat/completions`: OpenAI-like JSON and SSE as DashScope sends
  them: `"usage": null` on every chunk when usage is asked for, tool-call fragments after the
  first with `"id": ""`, the finish in a chunk with an empty delta, reasoning in
  `reasoning_content`, omni audio in `delta.audio` pieces (each its own base64), errors as
  `{"error": {...}, "id", "request_id"}` and, mid-stream, as a `data: {"error": ...}` event.
- `{url}/api/v1/services/aigc/{text,multimodal}-generation/generation`: the native form
  (`input`/`parameters` -> `output.choices`), its SSE framing (`id:`, `event:result`,
  `:HTTP_STATUS/200`, `data:` without a space, `finish_reason` "null" until the last event, no
  `[DONE]`, cumulative usage on every event, whole text so far unless `incremental_output`),
  errors as `{code, message, request_id}`, and in a stream as HTTP 200 + `event:error`.

Rules: omni/QwQ/QVQ refuse `stream: false`, open-weight Qwen3 refuses it while thinking,
`stop` may not mix strings and token ids, qwen-mt needs `translation_options`, media parts
need a model that sees, and Qwen3.5+/VL/omni models are not served at the text endpoint.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply
from relayport_dashscope.testing_media import DashScopeMedia

COMPAT = "/compatible-mode/v1/chat/completions"
TEXT = "/api/v1/services/aigc/text-generation/generation"
MULTIMODAL = "/api/v1/services/aigc/multimodal-generation/generation"

_STREAM_ONLY = re.compile(r"omni|^qwq|^qvq")
_OPEN_QWEN3 = re.compile(r"^qwen3-(?:vl-|next-)?\d+b")
_SEES = re.compile(r"vl|omni|qvq|qwen3\.[5-9]")
_MULTIMODAL_ONLY = re.compile(r"vl|omni|audio|qvq|qwen3\.[5-9]")

# Business errors as DashScope sends them: (status, compat error object, native code, message).
BUSINESS = {
    "Arrearage": (400, {"code": "Arrearage", "param": None, "type": "Arrearage",
                        "message": "Access denied, please make sure your account is in good standing."},
                  "Arrearage"),
    "data_inspection_failed": (400, {"code": "data_inspection_failed", "param": None,
                                     "type": "data_inspection_failed",
                                     "message": "Input data may contain inappropriate content."},
                               "DataInspectionFailed"),
    "invalid_api_key": (401, {"code": "invalid_api_key", "param": None, "type": "invalid_request_error",
                              "message": "Incorrect API key provided. "}, "InvalidApiKey"),
    "limit_requests": (429, {"code": "limit_requests", "param": None, "type": "limit_requests",
                             "message": "Requests rate limit exceeded, please try again later."},
                       "Throttling.RateQuota"),
    "insufficient_quota": (429, {"code": "insufficient_quota", "param": None, "type": "insufficient_quota",
                                 "message": "You exceeded your current quota, please check your plan "
                                            "and billing details."}, "Throttling.AllocationQuota"),
}


def _pieces(text: str) -> list[str]:
    """Stream deltas (word by word) that concatenate back to `text` exactly."""
    words = text.split(" ")
    return [p for p in [words[0], *(" " + w for w in words[1:])] if p] if text else []


def _rid() -> str:
    return str(uuid.uuid4())


def compat_error(status: int, error: dict[str, Any]) -> Reply:
    rid = _rid()
    return Reply.json({"error": error, "id": f"chatcmpl-{rid}", "request_id": rid}, status)


def invalid_parameter(message: str) -> Reply:
    return compat_error(400, {"code": "invalid_parameter_error", "param": None, "message": message,
                              "type": "invalid_request_error"})


def native_error(status: int, code: str, message: str) -> Reply:
    return Reply.json({"code": code, "message": message, "request_id": _rid()}, status)


def _user_text(messages: list[Any]) -> str:
    for m in reversed(messages or []):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            return " ".join(str(p.get("text", "")) for p in c or [] if isinstance(p, dict) and "text" in p)
    return ""


def _media_kinds(messages: list[Any]) -> list[str]:
    kinds = []
    for m in messages or []:
        content = m.get("content") if isinstance(m, dict) else None
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, dict):
                continue
            kind = part.get("type") or next((k for k in ("image", "video", "audio") if k in part), "text")
            if kind != "text":
                kinds.append(kind)
    return kinds


class FakeDashScope(FakeOpenAI):
    base_path = "/compatible-mode/v1"

    def __init__(self, api_key: str | None = "sk-fake-dashscope") -> None:
        super().__init__(api_key=api_key, usage_style="reasoning_if_any")
        self.wan: DashScopeMedia | None = None  # video, images, speech, embeddings (made on start)

    def started(self) -> None:
        super().started()
        self.wan = DashScopeMedia(self.url)

    def queue_text(self, text: str = "", *, error: str | None = None, audio: list[bytes] | None = None,
                   **kwargs: Any) -> None:
        """Script a turn; `error` ends its stream with that business error, `audio` adds omni audio."""
        super().queue_text(text, **kwargs)
        self.turns[-1].update(error=error, audio=audio)

    def error_reply(self, status: int, message: str) -> Reply:
        kinds = {400: "invalid_request_error", 401: "invalid_request_error", 429: "limit_requests",
                 500: "internal_error"}
        return compat_error(status, {"code": kinds.get(status, "internal_error"), "param": None,
                                     "message": message, "type": kinds.get(status, "internal_error")})

    def business_error(self, code: str, native: bool = False) -> Reply:
        status, error, native_code = BUSINESS[code]
        if native:
            return native_error(status, native_code, error["message"])
        return compat_error(status, dict(error))

    # ------------------------------------------------------------------ routing

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        assert self.wan is not None
        if rec.path.startswith("/files/"):  # result URLs: signed, no key, until they expire
            found = self.wan.file(rec.path[len("/files/"):])
            if found is None:
                return web.Response(status=403, text="<Error><Code>AccessDenied</Code>"
                                                      "<Message>Request has expired.</Message></Error>")
            return web.Response(body=found[0], content_type=found[1])
        native = rec.path in (TEXT, MULTIMODAL) or rec.path.startswith("/api/v1/")
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, self.business_error("invalid_api_key", native=native))
        try:
            body = orjson.loads(rec.body) if rec.body else {}
        except orjson.JSONDecodeError:
            return await self.play(request, invalid_parameter("The request body is not valid JSON."))
        media = self.wan.answer(rec.method, rec.path, rec.headers, body)
        if media is not None:
            return await self.play(request, media)
        if rec.path == COMPAT:
            return await self.play(request, self._compat(body))
        if native:
            return await self.play(request, self._native(rec, body))
        return await self.play(request, native_error(404, "InvalidURL", f"url error, please check url: {rec.path}"))

    def _turn(self, body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
        if self.turns:
            turn = dict(self.turns.popleft())
        else:
            turn = dict(text=f"echo: {_user_text(messages)}", reasoning=None, tool_calls=None,
                        finish_reason=None, usage=None, delay=0.0, drop_after=None, error=None, audio=None)
        opts = body.get("translation_options") or (body.get("parameters") or {}).get("translation_options")
        if str(body.get("model", "")).startswith("qwen-mt") and opts:
            turn["text"] = f"[{opts.get('source_lang', 'auto')}->{opts['target_lang']}] {_user_text(messages)}"
        return turn

    def _rules(self, body: dict[str, Any], messages: list[Any], stream: bool,
               params: dict[str, Any]) -> str | None:
        model = str(body.get("model", ""))
        if not stream and _STREAM_ONLY.search(model):
            return ("This model only support stream mode, please enable the stream parameter to "
                    "access the model. ")
        thinking = params.get("enable_thinking")
        if thinking is not None and not isinstance(thinking, bool):
            return "Parameter enable_thinking must be a boolean."
        if not stream and _OPEN_QWEN3.match(model) and "instruct" not in model and thinking is not False:
            return "parameter.enable_thinking must be set to false for non-streaming calls"
        stop = params.get("stop")
        if isinstance(stop, list) and len({type(v) is int for v in stop}) > 1:
            return "stop must be a list of strings or a list of token ids, not both."
        if model.startswith("qwen-mt") and not isinstance(params.get("translation_options"), dict):
            return "translation_options with target_lang is required by qwen-mt models."
        kinds = _media_kinds(messages)
        if kinds and not _SEES.search(model):
            return f"The model {model} does not support {kinds[0]} input."
        for m in messages:
            for part in m.get("content") if isinstance(m.get("content"), list) else ():
                if isinstance(part, dict) and part.get("type") == "video" and not isinstance(part.get("video"), list):
                    return "A 'video' part must carry a list of frame image URLs."
        return None

    # ------------------------------------------------------------------ compatible mode

    def _compat(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages") or []
        stream = bool(body.get("stream"))
        problem = self._rules(body, messages, stream, body)
        if problem:
            return invalid_parameter(problem)
        turn = self._turn(body, messages)
        if stream:
            return self._compat_stream(body, turn)
        if turn.get("error"):
            return self.business_error(turn["error"])
        return Reply.json(self._completion(body, turn))

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn["text"]}
        if turn["reasoning"]:
            message["reasoning_content"] = turn["reasoning"]
        if turn["tool_calls"]:
            message["tool_calls"] = [{**c, "index": i} for i, c in enumerate(turn["tool_calls"])]
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        rid = _rid()
        return {"choices": [{"message": message, "finish_reason": finish, "index": 0, "logprobs": None}],
                "object": "chat.completion", "usage": turn["usage"] or self.usage(12, 7),
                "created": int(time.time()), "system_fingerprint": None, "model": body.get("model"),
                "id": f"chatcmpl-{rid}"}

    def _compat_stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        rid = _rid()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())

        def chunk(choice: dict[str, Any] | None, usage: Any = None) -> bytes:
            obj: dict[str, Any] = {"choices": [choice] if choice else [], "object": "chat.completion.chunk"}
            if include_usage:
                obj["usage"] = usage
            obj.update(created=created, system_fingerprint=None, model=body.get("model"), id=f"chatcmpl-{rid}")
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        def delta(d: dict[str, Any]) -> bytes:
            return chunk({"delta": d, "finish_reason": None, "index": 0, "logprobs": None})

        events = [delta({"content": "", "role": "assistant"})]
        for piece in _pieces(turn["reasoning"] or ""):
            events.append(delta({"content": None, "reasoning_content": piece}))
        if turn.get("audio"):
            for piece in _pieces(turn["text"] or ""):
                events.append(delta({"audio": {"transcript": piece}}))
            for i, pcm in enumerate(turn["audio"]):
                audio: dict[str, Any] = {"data": base64.b64encode(pcm).decode()}
                if i == 0:
                    audio.update(id=f"audio_{rid}", expires_at=created + 86400)
                events.append(delta({"audio": audio}))
        else:
            for piece in _pieces(turn["text"] or ""):
                events.append(delta({"content": piece}))
        if turn.get("error"):
            _, error, _ = BUSINESS[turn["error"]]
            # DashScope reports output inspection failures inside the 200 stream, then stops.
            events.append(b"data: " + orjson.dumps({"error": error}) + b"\n\n")
            return Reply.sse(events, delay=turn["delay"])
        for i, call in enumerate(turn["tool_calls"] or ()):
            args = call["function"]["arguments"]
            half = len(args) // 2
            events.append(delta({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"],
                                                              "arguments": args[:half]}}]}))
            events.append(delta({"tool_calls": [{"index": i, "id": "", "type": "function",
                                                 "function": {"arguments": args[half:]}}]}))
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        events.append(chunk({"finish_reason": finish, "delta": {}, "index": 0}))
        if include_usage:
            events.append(chunk(None, turn["usage"] or self.usage(12, 7)))
        events.append(b"data: [DONE]\n\n")
        return Reply.sse(events, delay=turn["delay"], drop_after=turn["drop_after"],
                         error_after=turn.get("error_after"))

    # ------------------------------------------------------------------ native API

    def _native(self, rec: RecordedRequest, body: dict[str, Any]) -> Reply:
        model = str(body.get("model", ""))
        messages = (body.get("input") or {}).get("messages")
        if not model:
            return native_error(400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.')
        if not isinstance(messages, list) or not messages:
            return native_error(400, "BadRequest.EmptyInput", 'Required input parameter missing from request.')
        if rec.path == TEXT and (_MULTIMODAL_ONLY.search(model) or _media_kinds(messages)):
            return native_error(400, "InvalidParameter", "url error, please check url！")
        params = body.get("parameters") or {}
        stream = rec.headers.get("x-dashscope-sse") == "enable" or "text/event-stream" in rec.headers.get("accept", "")
        problem = self._rules(body, messages, stream, params)
        if problem:
            return native_error(400, "InvalidParameter", problem)
        turn = self._turn(body, messages)
        multimodal = rec.path == MULTIMODAL

        def content(text: str) -> Any:
            return [{"text": text}] if multimodal else text

        def usage(out: int) -> dict[str, Any]:
            u: dict[str, Any] = {"input_tokens": 30, "output_tokens": out, "total_tokens": 30 + out}
            if multimodal and _media_kinds(messages):
                u["video_tokens" if "video" in _media_kinds(messages) else "image_tokens"] = 20
            return u

        rid = _rid()
        if not stream:
            if turn.get("error"):
                return self.business_error(turn["error"], native=True)
            message: dict[str, Any] = {"role": "assistant", "content": content(turn["text"])}
            if turn["reasoning"]:
                message["reasoning_content"] = turn["reasoning"]
            return Reply.json({"output": {"choices": [{"finish_reason": "stop", "message": message}]},
                               "usage": usage(len(_pieces(turn["text"]))), "request_id": rid})
        incremental = bool(params.get("incremental_output"))
        pieces = _pieces(turn["text"])
        events: list[bytes] = []
        for i, piece in enumerate(pieces):
            text = piece if incremental else "".join(pieces[: i + 1])
            last = i == len(pieces) - 1
            obj = {"output": {"choices": [{"message": {"content": content(text), "role": "assistant"},
                                           "finish_reason": "stop" if last else "null"}]},
                   "usage": usage(i + 1), "request_id": rid}
            events.append(b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:" % (i + 1) + orjson.dumps(obj) + b"\n\n")
        if turn.get("error"):
            status, error, code = BUSINESS[turn["error"]]
            events.append(b"id:%d\nevent:error\n:HTTP_STATUS/%d\ndata:" % (len(events) + 1, status)
                          + orjson.dumps({"code": code, "message": error["message"], "request_id": rid}) + b"\n\n")
        return Reply.sse(events, headers={"Content-Type": "text/event-stream;charset=UTF-8"},
                         delay=turn["delay"])
