"""A fake Groq server for tests: Groq's chat wire format on loopback.

What it does the way Groq does (console.groq.com/docs: reasoning, api-reference, errors):
- `POST /openai/v1/chat/completions`, Bearer key; a wrong key is a 401 `invalid_api_key`;
- reasoning in `message.reasoning` / `delta.reasoning` with `reasoning_format: "parsed"` or
  (gpt-oss) by default; "raw" puts it in `<think>` tags in the content; "hidden" drops it;
  `reasoning_format` together with `include_reasoning` is a 400;
- `reasoning_effort`: Qwen takes none|default, gpt-oss low|medium|high, other models none;
- `reasoning_content` on an assistant message is a 400 (Groq's own message for it);
- usage carries Groq's timings; streams put it in `x_groq.usage` of the last chunk, never at
  the top level (the first chunk's `x_groq` has only the request id).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply, openai_error

TIMINGS = {"queue_time": 0.012, "prompt_time": 0.004, "completion_time": 0.031, "total_time": 0.035}
_EFFORTS = {"qwen3": ("none", "default"), "gpt-oss": ("low", "medium", "high")}


class FakeGroq(FakeOpenAI):
    """Groq at `{url}/openai/v1`."""

    def __init__(self, api_key: str | None = "gsk_fake-groq") -> None:
        super().__init__(api_key=api_key, reasoning_field="reasoning", usage_placement="last_chunk")

    @property
    def base_url(self) -> str:
        return self.url + "/openai/v1"

    def error_reply(self, status: int, message: str) -> Reply:
        kinds = {400: "invalid_request_error", 401: "invalid_request_error", 429: "tokens",
                 498: "capacity_exceeded"}
        return openai_error(status, message, kinds.get(status, "internal_server_error"))

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                               "total_tokens": prompt + completion,
               **TIMINGS}
        if cached:
            out["prompt_tokens_details"] = {"cached_tokens": cached}
        return out

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, openai_error(401, "Invalid API Key", code="invalid_api_key"))
        if rec.path != "/openai/v1/chat/completions":
            return await self.play(request, openai_error(404, "Unknown request URL", code="unknown_url"))
        body = orjson.loads(rec.body)
        problem = self._check(body)
        if problem is not None:
            return await self.play(request, openai_error(400, problem))
        model = str(body.get("model"))
        fmt = body.get("reasoning_format") or ("parsed" if model.startswith("openai/gpt-oss") else "raw")
        if body.get("include_reasoning") is False:
            fmt = "hidden"
        self.think_tags = fmt == "raw"
        turn = self.turns.popleft() if self.turns else self._echo(body)
        if fmt == "hidden" or not self._family(model):
            turn = {**turn, "reasoning": None}
        if not body.get("stream"):
            answer = self._completion(body, turn)
            answer["x_groq"] = {"id": "req_fake01"}
            return await self.play(request, Reply.json(answer))
        reply = self._stream_reply({**body, "stream_options": None}, turn)
        reply.events = [self._groq_chunk(e, i) for i, e in enumerate(reply.events or [])]
        return await self.play(request, reply)

    @staticmethod
    def _family(model: str) -> str | None:
        return "gpt-oss" if model.startswith("openai/gpt-oss") else "qwen3" if model.startswith("qwen/qwen3") \
            else None

    def _check(self, body: dict[str, Any]) -> str | None:
        if "reasoning_format" in body and "include_reasoning" in body:
            return "reasoning_format and include_reasoning cannot be used together"
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in _EFFORTS.get(self._family(str(body.get("model"))) or "", ()):
            return f"`reasoning_effort` value `{effort}` is not supported by this model"
        for i, m in enumerate(body.get("messages") or ()):
            if m.get("role") == "assistant" and "reasoning_content" in m:
                return (f"'messages.{i}' : for 'role:assistant' the following must be satisfied"
                        f"[('messages.{i}' : property 'reasoning_content' is unsupported)]")
        return None

    @staticmethod
    def _groq_chunk(event: bytes, index: int) -> bytes:
        if event.startswith(b"data: [DONE]"):
            return event
        obj = orjson.loads(event[6:])
        usage = obj.pop("usage", None)
        if index == 0:
            obj["x_groq"] = {"id": "req_fake01"}
        elif usage is not None:
            obj["x_groq"] = {"id": "req_fake01", "usage": usage}
        return b"data: " + orjson.dumps(obj) + b"\n\n"
