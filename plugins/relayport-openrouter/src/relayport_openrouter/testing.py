"""A fake OpenRouter for tests: OpenRouter's chat wire format on loopback.

As OpenRouter does it (openrouter.ai/docs: reasoning tokens, provider routing, errors, streaming):
- `POST {base}/api/v1/chat/completions`, Bearer key;
- reasoning in `message.reasoning` / `delta.reasoning` plus a `reasoning_details` array;
  answers name the `provider` that served them and carry `native_finish_reason`, usage a `cost`;
- the `reasoning` request object takes `effort` or `max_tokens`, not both; `provider`
  preferences must be an object of its known fields;
- streams open with a `: OPENROUTER PROCESSING` comment;
- errors: `{"error": {"code": <status>, "message", "metadata"?}}`, with 402 when the balance
  (`credits`) is spent.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

PROVIDER_FIELDS = {"order", "allow_fallbacks", "require_parameters", "data_collection", "zdr",
                   "enforce_distillable_text", "only", "ignore", "quantizations", "sort", "max_price"}


def openrouter_error(status: int, message: str, metadata: dict[str, Any] | None = None) -> Reply:
    err: dict[str, Any] = {"code": status, "message": message}
    if metadata is not None:
        err["metadata"] = metadata
    return Reply.json({"error": err}, status)


class FakeOpenRouter(FakeOpenAI):
    def __init__(self, api_key: str | None = "sk-or-v1-fake") -> None:
        super().__init__(api_key=api_key, reasoning_field="reasoning")
        self.credits = 10.0
        self.served_by = "Anthropic"

    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"

    def error_reply(self, status: int, message: str) -> Reply:
        return openrouter_error(status, message)

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "cost": 0.0001 * (prompt + completion), "is_byok": False,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning}}

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, openrouter_error(401, "No auth credentials found"))
        if not rec.path.startswith("/api/v1/"):
            return await self.play(request, openrouter_error(404, "Not Found"))
        body = orjson.loads(rec.body)
        problem = self._check(body)
        if problem is None and self.credits <= 0:
            problem = openrouter_error(402, "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
                                       {"limit_source": "openrouter_credits"})
        if problem is not None:
            return await self.play(request, problem)
        return await super()._answer(request, rec)

    def _check(self, body: dict[str, Any]) -> Reply | None:
        reasoning = body.get("reasoning")
        if reasoning is not None and (not isinstance(reasoning, dict)
                                      or ("effort" in reasoning and "max_tokens" in reasoning)):
            return openrouter_error(400, "reasoning: only one of effort or max_tokens may be given")
        prefs = body.get("provider")
        if prefs is not None and (not isinstance(prefs, dict) or not set(prefs) <= PROVIDER_FIELDS):
            return openrouter_error(400, "provider: invalid provider preferences")
        return None

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        out = super()._completion(body, turn)
        out["id"] = "gen-fake123"
        out["provider"] = self.served_by
        for choice in out["choices"]:
            choice["native_finish_reason"] = choice["finish_reason"]
            if turn["reasoning"]:
                choice["message"]["reasoning_details"] = [
                    {"type": "reasoning.text", "text": turn["reasoning"], "signature": "sig-1",
                     "format": "anthropic-claude-v1", "index": 0}]
        return out

    def _stream_reply(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        reply = super()._stream_reply(body, turn)
        events = [b": OPENROUTER PROCESSING\n\n"]
        for ev in reply.events or ():
            if ev.startswith(b"data: {"):
                obj = orjson.loads(ev[6:])
                obj["provider"] = self.served_by
                for choice in obj["choices"]:
                    text = choice["delta"].get("reasoning")
                    if text:
                        choice["delta"]["reasoning_details"] = [
                            {"type": "reasoning.text", "text": text, "format": "anthropic-claude-v1", "index": 0}]
                ev = b"data: " + orjson.dumps(obj) + b"\n\n"
            events.append(ev)
        reply.events = events
        return reply
