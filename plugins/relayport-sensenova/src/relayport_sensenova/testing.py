"""A fake SenseNova for tests: its OpenAI-compatible token endpoint on loopback.

As SenseNova does it (OpenSenseNova/SenseNova6.7 API.md; platform.sensenova.cn parameter table):
- `POST {base}/v1/chat/completions`, Bearer key; answers carry `request_id`;
- reasoning in `reasoning`; open stream chunks say `finish_reason: ""`, and a usage-only
  chunk (`choices: []`) always comes before `[DONE]`;
- a field outside the parameter table, or `max_tokens` outside [1, 65536], is a 400
  "Errors in message queue response" with code "3";
- errors: `{"error": {"message", "type", "code": "<digit>"}}` (401 authentication_error,
  404 not_found_error with code "5").
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

ALLOWED = {"model", "messages", "stream", "stream_options", "temperature", "top_p", "top_k", "min_p",
           "repetition_penalty", "max_tokens", "n", "stop", "frequency_penalty", "presence_penalty",
           "reasoning_effort", "tools", "tool_choice", "parallel_tool_calls", "seed"}
MODELS = {"sensenova-6.7-flash-lite"}


def sensenova_error(status: int, message: str, kind: str | None, code: str) -> Reply:
    return Reply.json({"error": {"message": message, "type": kind, "code": code}}, status)


def queue_refusal() -> Reply:
    return sensenova_error(400, "Errors in message queue response", "invalid_request_error", "3")


class FakeSenseNova(FakeOpenAI):
    def __init__(self, api_key: str | None = "sensenova-fake-key") -> None:
        super().__init__(api_key=api_key, reasoning_field="reasoning", open_finish="")

    def error_reply(self, status: int, message: str) -> Reply:
        kinds = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
        return sensenova_error(status, message, kinds.get(status), {404: "5"}.get(status, "3"))

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, sensenova_error(401, "invalid api key", "authentication_error", "16"))
        body = orjson.loads(rec.body)
        if body.get("model") not in MODELS:
            return await self.play(request, sensenova_error(404, "model is not found", "not_found_error", "5"))
        cap = body.get("max_tokens", 1)
        if not set(body) <= ALLOWED or not isinstance(cap, int) or not 1 <= cap <= 65536:
            return await self.play(request, queue_refusal())
        return await super()._answer(request, rec)

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        out = super()._completion(body, turn)
        out["request_id"] = out["id"]
        return out

    def _stream_reply(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        # SenseNova always sends its usage-only chunk, asked or not.
        return super()._stream_reply({**body, "stream_options": {"include_usage": True}}, turn)
