"""A fake LTX API for tests: Bearer auth, `/v1/text-to-video` and `/v1/image-to-video` answered
with the MP4 itself (`Content-Type: video/mp4`, `x-request-id`) after a short render, LTX's
`{"type": "error", "error": {type, message}}` answers, and 429s with `Retry-After` for the rate
and concurrency limits. Which resolutions, durations and fps each model takes is only partly in
the pages read: the fake takes the frame sizes and values the quick start and model pages name."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.task_fakes import MP4, PNG

__all__ = ["KEY", "MP4", "PNG", "FakeLTX"]

KEY = "ltxv_test_0123456789abcdef"
MODELS = frozenset({"ltx-2-pro", "ltx-2-fast", "ltx-2-3-pro", "ltx-2-3-fast"})
RESOLUTIONS = frozenset({"1920x1080", "1080x1920", "2560x1440", "3840x2160"})


def ltx_error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}}, status=status,
                             headers=headers)


class FakeLTX(FakeUpstream):
    def __init__(self, render_seconds: float = 0.2) -> None:
        super().__init__(default=self._answer)
        self.render_seconds = render_seconds
        self.busy_next = 0
        self.renders = 0

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.headers.get("authorization") != f"Bearer {KEY}":
            return ltx_error(401, "authentication_error", "Invalid API key")
        if rec.method != "POST" or rec.path not in ("/v1/text-to-video", "/v1/image-to-video"):
            return ltx_error(404, "not_found_error", "Not found")
        if self.busy_next > 0:
            self.busy_next -= 1
            return ltx_error(429, "concurrency_limit_error", "Too many concurrent requests", {"Retry-After": "3"})
        body: dict[str, Any] = rec.json()
        problem = self._invalid(rec.path, body)
        if problem:
            return ltx_error(400, "invalid_request_error", problem)
        await asyncio.sleep(self.render_seconds)  # the render: the answer comes when the video is done
        self.renders += 1
        return web.Response(body=MP4, content_type="video/mp4", headers={"x-request-id": str(uuid.uuid4())})

    @staticmethod
    def _invalid(path: str, body: dict[str, Any]) -> str | None:
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            return "prompt is required"
        if body.get("model") not in MODELS:
            return f"model must be one of {', '.join(sorted(MODELS))}"
        if path == "/v1/image-to-video" and not isinstance(body.get("image_uri"), str):
            return "image_uri is required"
        if body.get("resolution", "1920x1080") not in RESOLUTIONS:
            return f"resolution {body.get('resolution')!r} is not supported"
        duration = body.get("duration", 6)
        if not isinstance(duration, int) or not 1 <= duration <= 20:
            return "duration must be an integer number of seconds"
        if body.get("fps", 25) not in (24, 25, 48, 50):
            return "fps must be 24, 25, 48 or 50"
        return None
