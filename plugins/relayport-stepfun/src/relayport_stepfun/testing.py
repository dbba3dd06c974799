"""A fake StepFun server for tests: StepFun's chat wire format on loopback.

As StepFun does it (platform.stepfun.ai chat object / streaming / reasoning pages):
- `POST {base}/v1/chat/completions`, Bearer key;
- reasoning in `reasoning`; usage with a top-level `cached_tokens`;
- streams carry cumulative usage on every chunk (asked or not), `finish_reason: ""` and
  `role: ""` on open chunks;
- image parts only for vision models, video parts only for step-1o video models.
Errors use OpenAI's envelope (StepFun's exact codes are UNCONFIRMED).
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply, openai_error

VISION = ("step-1v-*", "step-1o-*", "step-3*", "step-r1-v-*")
VIDEO = ("step-1o-*vision*", "step-1o-turbo-vision")


class FakeStepFun(FakeOpenAI):
    def __init__(self, api_key: str | None = "stepfun-fake-key") -> None:
        super().__init__(api_key=api_key, reasoning_field="reasoning",
                         usage_style="top_cached", usage_placement="every_chunk", open_finish="")

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.path.endswith("/chat/completions") and rec.headers.get("authorization") == f"Bearer {self.api_key}":
            problem = self._check(orjson.loads(rec.body))
            if problem is not None:
                return await self.play(request, problem)
        return await super()._answer(request, rec)

    def _check(self, body: dict[str, Any]) -> Reply | None:
        model = str(body.get("model"))
        for m in body.get("messages") or ():
            for part in m.get("content") if isinstance(m.get("content"), list) else ():
                kind = part.get("type")
                if kind == "image_url" and not any(fnmatch(model, p) for p in VISION):
                    return openai_error(400, f"model {model} does not support image input")
                if kind == "video_url" and not any(fnmatch(model, p) for p in VIDEO):
                    return openai_error(400, f"model {model} does not support video input")
        if body.get("reasoning_effort") not in (None, "low", "medium", "high"):
            return openai_error(400, "reasoning_effort must be one of low, medium, high")
        return None

    def _stream_reply(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        reply = super()._stream_reply(body, turn)
        events = []
        for i, ev in enumerate(reply.events):
            if i and ev.startswith(b"data: {"):
                obj = orjson.loads(ev[6:])
                for choice in obj.get("choices") or ():
                    choice["delta"].setdefault("role", "")
                ev = b"data: " + orjson.dumps(obj) + b"\n\n"
            events.append(ev)
        reply.events = events
        return reply
