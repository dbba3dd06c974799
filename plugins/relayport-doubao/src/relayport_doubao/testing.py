"""A fake Volcengine Ark chat API for tests: Ark's wire format and rules on loopback.

From the Ark SDK (volcengine-python-sdk `volcenginesdkarkruntime`: chunk and content-part
types, the stream's error checks) and Ark's error-code page (volcengine.com/docs/82379/1299023):
- `{url}/api/v3/chat/completions`, Bearer key; models are model ids or endpoint ids (`ep-...`);
  an unknown one is 404 `InvalidEndpointOrModel.NotFound`;
- `reasoning_content` in messages and deltas, `thinking.type` enabled | disabled | auto,
  `reasoning_effort` minimal | low | medium | high (anything else is 400 `InvalidParameter`);
- content parts text, `image_url` (`detail`), `video_url` (`fps`), `input_audio` with an
  `audio_url` object; other part types are refused;
- errors `{"error": {"code", "message", "param", "type": <HTTP reason phrase>}}`, and inside a
  stream as `data: {"error": ...}` or `event: error`;
- usage only when `stream_options.include_usage`, in a final `choices: []` chunk; `[DONE]`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest, Reply

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
_CODES = {400: "InvalidParameter", 401: "AuthenticationError", 403: "AccessDenied",
          404: "InvalidEndpointOrModel.NotFound", 429: "RateLimitExceeded.EndpointRPMExceeded",
          500: "InternalServiceError", 503: "ServerOverloaded"}
_PARTS = frozenset({"text", "image_url", "video_url", "input_audio"})


def ark_error(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{message} Request id: 021764000000000fakefakefake",
                      "param": param or "", "type": REASONS.get(status, "InternalServerError")}}


class FakeArk(FakeUpstream):
    """Ark's chat API answering scripted turns (an echo when none is queued)."""

    def __init__(self, api_key: str | None = "ark-fake-key", models: tuple[str, ...] = ("doubao-", "ep-")) -> None:
        super().__init__(self._answer)
        self.api_key = api_key
        self.models = models
        self.turns: deque[dict[str, Any]] = deque()

    @property
    def base_url(self) -> str:
        return self.url + "/api/v3"

    def queue_text(self, text: str = "", *, reasoning: str | None = None,
                   tool_calls: list[dict[str, Any]] | None = None, finish_reason: str | None = None,
                   usage: dict[str, Any] | None = None, fail_after: int | None = None,
                   fail_status: int = 429, error_event: bool = False, drop_after: int | None = None,
                   error_after: int | None = None) -> None:
        """The next answer; `fail_after=n` breaks a stream with an Ark error after n chunks
        (`error_event`: as `event: error` rather than a data-only event; `error_after=n`: a 500
        error there, the conformance suite's spelling); `drop_after=n` closes the connection."""
        if error_after is not None:
            fail_after, fail_status = error_after, 500
        self.turns.append(dict(text=text, reasoning=reasoning, tool_calls=tool_calls, finish_reason=finish_reason,
                               usage=usage, fail_after=fail_after, fail_status=fail_status,
                               error_event=error_event, drop_after=drop_after))

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning}}

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        return Reply.json(ark_error(status, code or _CODES.get(status, "InternalServiceError"), message), status)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if not rec.path.endswith("/api/v3/chat/completions"):
            return await self.play(request, self.error_reply(404, f"Unknown path {rec.path}.", "NotFound"))
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, self.error_reply(
                401, "The API key in the request is missing or invalid.", "AuthenticationError"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, self.error_reply(400, "The request body is not valid JSON."))
        refusal = self._refusal(body)
        if refusal is not None:
            return await self.play(request, refusal)
        turn = self.turns.popleft() if self.turns else self._echo(body)
        if body.get("stream"):
            return await self.play(request, self._stream(body, turn))
        return await self.play(request, Reply.json(self._completion(body, turn)))

    def _refusal(self, body: dict[str, Any]) -> Reply | None:
        model = body.get("model")
        if not isinstance(model, str) or not model.startswith(self.models):
            return Reply.json(ark_error(404, "InvalidEndpointOrModel.NotFound",
                                        f"The model or endpoint {model} does not exist or you do not have "
                                        "access to it."), 404)
        thinking = body.get("thinking")
        if thinking is not None and (not isinstance(thinking, dict)
                                     or thinking.get("type") not in ("enabled", "disabled", "auto")):
            return self.error_reply(400, "The parameter `thinking.type` specified in the request is not valid.")
        if body.get("reasoning_effort") not in (None, "minimal", "low", "medium", "high"):
            return self.error_reply(400, "The parameter `reasoning_effort` specified in the request is not valid.")
        for m in body.get("messages") or ():
            for part in m.get("content") if isinstance(m.get("content"), list) else ():
                kind = part.get("type")
                if kind not in _PARTS or (kind == "input_audio" and not isinstance(part.get("audio_url"), dict)):
                    return self.error_reply(400, f"The content part type {kind} is not supported.")
        return None

    def _echo(self, body: dict[str, Any]) -> dict[str, Any]:
        last = next((m for m in reversed(body.get("messages") or []) if m.get("role") == "user"), {})
        content = last.get("content")
        text = content if isinstance(content, str) else " ".join(
            p.get("text", "") for p in content or () if isinstance(p, dict) and p.get("type") == "text")
        return dict(text=f"echo: {text}", reasoning=None, tool_calls=None, finish_reason=None, usage=None,
                    fail_after=None, fail_status=429, error_event=False)

    def _finish(self, turn: dict[str, Any]) -> str:
        return turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn["text"]}
        if turn["reasoning"]:
            message["reasoning_content"] = turn["reasoning"]
        if turn["tool_calls"]:
            message["tool_calls"] = turn["tool_calls"]
        return {"id": "021764000000000abcdef", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "service_tier": "default",
                "choices": [{"index": 0, "message": message, "finish_reason": self._finish(turn),
                             "logprobs": None, "moderation_hit_type": None}],
                "usage": turn["usage"] or self.usage(20, 8)}

    def _stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        base = {"id": "021764000000000abcdef", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body["model"], "service_tier": "default"}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                        "logprobs": None, "moderation_hit_type": None}]}
            if include_usage:
                obj["usage"] = None
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        for piece in _words(turn["reasoning"] or ""):
            deltas.append({"role": "assistant", "reasoning_content": piece})
        for piece in _words(turn["text"]):
            deltas.append({"role": "assistant", "content": piece})
        for i, call in enumerate(turn["tool_calls"] or ()):
            deltas.append({"role": "assistant", "tool_calls": [{"index": i, **call}]})
        events = []
        for i, delta in enumerate(deltas):
            if turn["fail_after"] is not None and i == turn["fail_after"]:
                status = turn["fail_status"]
                payload = orjson.dumps(ark_error(status, _CODES.get(status, "InternalServiceError"),
                                                 "The request failed during generation."))
                events.append((b"event: error\n" if turn["error_event"] else b"") + b"data: " + payload + b"\n\n")
                return Reply.sse(events)
            events.append(chunk(delta))
        events.append(chunk({"role": "assistant", "content": ""}, self._finish(turn)))
        if include_usage:
            events.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": turn["usage"]
                                                    or self.usage(20, 8)}) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return Reply.sse(events, drop_after=turn.get("drop_after"))


def _words(text: str) -> list[str]:
    """Stream pieces that join back to `text` exactly."""
    pieces = [word if i == 0 else " " + word for i, word in enumerate(text.split(" "))]
    return [p for p in pieces if p]
