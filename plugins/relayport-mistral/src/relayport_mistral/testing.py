"""A fake Mistral server for tests: Mistral's chat wire format on loopback.

What it does the way Mistral does (docs.mistral.ai API reference and reasoning pages, reports
of its 422s):
- `POST /v1/chat/completions`, Bearer key; a wrong key is a 401 `{"message": "Unauthorized"}`;
- the body is validated strictly: a field outside Mistral's schema (top level, or a message
  field such as an assistant's `reasoning_content`) is a 422 whose `message.detail` lists
  `{type: extra_forbidden, loc, msg, input}`; a wrong type is `{type: int_type, ...}`;
- `reasoning_effort`: high|none on mistral-small-latest/mistral-medium-3-5, low|medium|high on
  mistral-large-4, refused elsewhere; magistral-* always reason;
- a reasoning answer's `content` is a list of `thinking` (with a `thinking` list of text
  chunks) and `text` chunks, in the message and in every stream delta;
- no `logprobs` nor `refusal`; streams put usage on the finishing chunk, always.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply
from relayport_mistral.request import reasoning_kind as _kind

FIELDS = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
    "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n", "prediction",
    "parallel_tool_calls", "prompt_mode", "safe_prompt", "reasoning_effort"})
MESSAGE_FIELDS = {"system": {"role", "content"}, "user": {"role", "content"},
                  "assistant": {"role", "content", "tool_calls", "prefix"},
                  "tool": {"role", "content", "tool_call_id", "name"}}
EFFORTS = {"switch": ("high", "none"), "levels": ("low", "medium", "high")}


def validation_error(detail: list[dict[str, Any]]) -> Reply:
    return Reply.json({"object": "error", "message": {"detail": detail}, "type": "invalid_request_error",
                       "param": None, "code": None}, 422)


class FakeMistral(FakeOpenAI):
    """Mistral at `{url}/v1`."""

    def __init__(self, api_key: str | None = "fake-mistral-key") -> None:
        super().__init__(api_key=api_key, usage_style="counts", usage_placement="last_chunk")
        self._reasons = False

    def error_reply(self, status: int, message: str) -> Reply:
        if status in (401, 429):
            return Reply.json({"message": message, "request_id": "fake-req-1"}, status)
        return Reply.json({"object": "error", "message": message, "type": "invalid_request_error" if status < 500
                           else "internal_server_error", "param": None, "code": str(3000 + status)}, status)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, Reply.json({"message": "Unauthorized", "request_id": "r1"}, 401))
        if rec.path != "/v1/chat/completions":
            return await self.play(request, Reply.json({"detail": "Not Found"}, 404))
        body = orjson.loads(rec.body)
        detail = self._check(body)
        if detail:
            return await self.play(request, validation_error(detail))
        kind = _kind(str(body.get("model")))
        self._reasons = kind == "native" or (kind in EFFORTS and body.get("reasoning_effort") not in (None, "none"))
        turn = self.turns.popleft() if self.turns else self._echo(body)
        if not self._reasons:
            turn = {**turn, "reasoning": None}
        if body.get("stream"):
            reply = self._stream_reply(body, turn)
            reply.events = [self._mistral_chunk(e) for e in reply.events or []]
            return await self.play(request, reply)
        return await self.play(request, Reply.json(self._completion(body, turn)))

    def _check(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        detail = [{"type": "extra_forbidden", "loc": ["body", key], "msg": "Extra inputs are not permitted",
                   "input": value} for key, value in body.items() if key not in FIELDS]
        for i, m in enumerate(body.get("messages") or ()):
            role = m.get("role")
            for key in set(m) - MESSAGE_FIELDS.get(role, set(m)):
                detail.append({"type": "extra_forbidden", "loc": ["body", "messages", i, role, key],
                               "msg": "Extra inputs are not permitted", "input": m[key]})
        if "random_seed" in body and not isinstance(body["random_seed"], int):
            detail.append({"type": "int_type", "loc": ["body", "random_seed"],
                           "msg": "Input should be a valid integer", "input": body["random_seed"]})
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in EFFORTS.get(_kind(str(body.get("model"))), ()):
            detail.append({"type": "value_error", "loc": ["body", "reasoning_effort"],
                           "msg": f"reasoning_effort {effort!r} is not supported by this model", "input": effort})
        return detail

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        out = super()._completion(body, turn)
        choice = out["choices"][0]
        del choice["logprobs"], choice["message"]["refusal"]
        message = choice["message"]
        reasoning = message.pop("reasoning_content", None)
        if reasoning:
            message["content"] = [{"type": "thinking", "thinking": [{"type": "text", "text": reasoning}]},
                                  {"type": "text", "text": message["content"] or ""}]
        return out

    def _mistral_chunk(self, event: bytes) -> bytes:
        if event.startswith(b"data: [DONE]"):
            return event
        obj = orjson.loads(event[6:])
        for choice in obj["choices"]:
            choice.pop("logprobs", None)
            delta = choice["delta"]
            if "reasoning_content" in delta:
                delta["content"] = [{"type": "thinking",
                                     "thinking": [{"type": "text", "text": delta.pop("reasoning_content")}]}]
            elif self._reasons and delta.get("content"):
                delta["content"] = [{"type": "text", "text": delta["content"]}]
        return b"data: " + orjson.dumps(obj) + b"\n\n"
