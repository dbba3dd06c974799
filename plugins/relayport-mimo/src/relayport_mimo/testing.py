"""A fake MiMo server for tests: Xiaomi MiMo's chat wire format on loopback.

As MiMo does it (platform.xiaomimimo.com OpenAI API compatibility and deep-thinking pages):
- `POST {base}/v1/chat/completions` with the key in `api-key` or `Authorization: Bearer`;
- `thinking.type` must be `enabled` or `disabled`; thinking is on by default except for
  mimo-v2-flash, and a thinking answer carries `reasoning_content`;
- with thinking on, an assistant turn in the history that made tool calls must carry its
  `reasoning_content`, or MiMo answers 400;
- answers say `message.tool_calls: null`, omit `logprobs`/`refusal`, and usage may carry
  `prompt_tokens_details: null`.
Error bodies use OpenAI's envelope (MiMo's own codes are UNCONFIRMED).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply, openai_error

THINKS_BY_DEFAULT = ("mimo-v2.5-pro", "mimo-v2.5", "mimo-v2-pro", "mimo-v2-omni")


class FakeMiMo(FakeOpenAI):
    def __init__(self, api_key: str | None = "sk-mimo-fake-key") -> None:
        super().__init__(api_key=api_key)
        self.auth_seen: list[str] = []  # which header carried the key, per request

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached} if cached else None,
                "completion_tokens_details": {"reasoning_tokens": reasoning}}

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if "api-key" in rec.headers and "authorization" not in rec.headers:
            self.auth_seen.append("api-key")
            rec.headers["authorization"] = "Bearer " + rec.headers["api-key"]
        elif "authorization" in rec.headers:
            self.auth_seen.append("authorization")
        if rec.path.endswith("/chat/completions") and rec.headers.get("authorization") == f"Bearer {self.api_key}":
            problem = self._check(orjson.loads(rec.body))
            if problem is not None:
                return await self.play(request, problem)
        return await super()._answer(request, rec)

    def _check(self, body: dict[str, Any]) -> Reply | None:
        thinking = body.get("thinking")
        if thinking is not None and (not isinstance(thinking, dict)
                                     or thinking.get("type") not in ("enabled", "disabled")):
            return openai_error(400, "Param Incorrect: thinking.type must be enabled or disabled")
        on = (thinking or {}).get("type", "enabled" if body.get("model") in THINKS_BY_DEFAULT else "disabled")
        for m in body.get("messages") or ():
            if on == "enabled" and m.get("role") == "assistant" and m.get("tool_calls") \
                    and "reasoning_content" not in m:
                return openai_error(400, "Param Incorrect: reasoning_content of tool-calling assistant "
                                         "messages must be passed back in thinking mode")
        return None

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        out = super()._completion(body, turn)
        for choice in out["choices"]:
            del choice["logprobs"], choice["message"]["refusal"]
            choice["message"].setdefault("tool_calls", None)
        return out
