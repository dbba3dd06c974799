"""A fake xAI server for tests: Grok's chat wire format on loopback.

What it does the way xAI does (docs.x.ai; error bodies as users report them):
- `POST /v1/chat/completions`, Bearer key; a wrong key is a **400**
  `{"code": "Client specified an invalid argument", "error": "Incorrect API key provided: ..."}`;
- `search_parameters` is a 410 ("Live search is deprecated ...");
- `reasoning_effort` only on grok-3-mini (low|high); other models refuse it, and reasoning
  models refuse presence/frequency penalties and `stop`;
- grok-3-mini returns `reasoning_content`; usage counts reasoning in `total_tokens` and
  `completion_tokens_details.reasoning_tokens` but not in `completion_tokens`;
- images only on vision models, JPEG/PNG only;
- `/v1/responses` is OpenAI's Responses API (the base fake's), tools included.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply
from relayport_xai.request import reasons, sees_images, takes_effort

INVALID = "Client specified an invalid argument"


def xai_error(status: int, message: str, code: str = INVALID) -> Reply:
    return Reply.json({"code": code, "error": message}, status)


class FakeXAI(FakeOpenAI):
    """xAI at `{url}/v1`."""

    def __init__(self, api_key: str | None = "xai-fake-key") -> None:
        super().__init__(api_key=api_key)

    def error_reply(self, status: int, message: str) -> Reply:
        codes = {401: "Unauthenticated", 403: "Permission denied", 429: "Too many requests",
                 500: "Internal error"}
        return xai_error(status, message, codes.get(status, INVALID))

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion + reasoning,
                "prompt_tokens_details": {"text_tokens": prompt, "audio_tokens": 0, "image_tokens": 0,
                                          "cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, xai_error(
                400, "Incorrect API key provided: xa***ey. You can obtain an API key from https://console.x.ai."))
        if rec.path != "/v1/chat/completions":
            return await super()._answer(request, rec)  # the Responses API, as OpenAI's
        body = orjson.loads(rec.body)
        problem = self._check(body)
        if problem is not None:
            return await self.play(request, problem)
        if not takes_effort(str(body.get("model"))) and self.turns:
            self.turns[0] = {**self.turns[0], "reasoning": None}  # only grok-3-mini shows its reasoning
        return await super()._answer(request, rec)

    def _check(self, body: dict[str, Any]) -> Reply | None:
        model = str(body.get("model"))
        if "search_parameters" in body:
            return xai_error(410, "Live search is deprecated. Please switch to the Agent Tools API: "
                                  "https://docs.x.ai/docs/guides/tools/overview")
        effort = body.get("reasoning_effort")
        if effort is not None and (not takes_effort(model) or effort not in ("low", "high")):
            return xai_error(400, f"Model {model} does not support parameter reasoningEffort.")
        if reasons(model):
            for key in ("presence_penalty", "frequency_penalty", "stop"):
                if key in body:
                    return xai_error(400, f"Model {model} does not support parameter {key}.")
        for m in body.get("messages") or ():
            for part in m.get("content") if isinstance(m.get("content"), list) else ():
                if part.get("type") != "image_url":
                    continue
                if not sees_images(model, {}):
                    return xai_error(400, "Image inputs are not supported by this model.")
                url = part["image_url"]["url"]
                if url.startswith("data:") and not url.startswith(("data:image/jpeg", "data:image/png")):
                    return xai_error(400, "Unsupported content-type for image input.")
        return None
