"""A fake Runway API for tests: Bearer + a required `X-Runway-Version`, the image_to_video /
text_to_video / text_to_image endpoints with the ratios and durations Runway's SDK types list,
tasks that go PENDING -> THROTTLED -> RUNNING (with progress) -> SUCCEEDED one status per poll,
output URLs that expire, DELETE cancelling an unfinished task, 429s and `{error, issues}` answers.
The exact wording of Runway's validation errors is not documented publicly: `issues[].path` here
follows the zod-style answers Runway's API is seen to give."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.task_fakes import MP4, PNG, ExpiringFiles, TaskBook

__all__ = ["KEY", "MP4", "PNG", "FakeRunway"]

KEY = "key_runway_test_0123456789abcdef"
VERSION = "2024-11-06"
_VIDEO_RATIOS = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672", "1080:1920", "1920:1080"}
_IMAGE_RATIOS = {"1024:1024", "1080:1080", "1168:880", "1360:768", "1440:1080", "1080:1440", "1808:768",
                 "1920:1080", "1080:1920", "2112:912", "1280:720", "720:1280", "720:720", "960:720", "720:960",
                 "1680:720"}
MODELS = {
    "/v1/image_to_video": {"gen4_turbo", "gen4.5", "gen3a_turbo", "veo3", "veo3.1", "veo3.1_fast"},
    "/v1/text_to_video": {"gen4.5", "veo3", "veo3.1", "veo3.1_fast"},
    "/v1/text_to_image": {"gen4_image", "gen4_image_turbo"},
}


def runway_error(status: int, message: str, issues: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if issues:
        body["issues"] = issues
    return web.json_response(body, status=status, headers=headers)


def invalid(path: str, message: str) -> web.Response:
    return runway_error(400, "Validation of body failed", [{"path": [path], "message": message}])


class FakeRunway(FakeUpstream):
    def __init__(self, lifetime: float = 86400.0) -> None:
        super().__init__(default=self._answer)
        self.book = TaskBook(("PENDING", "THROTTLED", "RUNNING", "SUCCEEDED"))
        self.files = ExpiringFiles(lifetime)  # Runway: output URLs expire within 24-48 hours
        self.busy_next = 0

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        served = self.files.serve(rec)
        if served is not None:
            return served
        if rec.headers.get("authorization") != f"Bearer {KEY}":
            return runway_error(401, "Invalid API key")
        if rec.headers.get("x-runway-version") != VERSION:
            return runway_error(400, "Invalid API Version. Set the X-Runway-Version header to a supported version.")
        if rec.method == "POST" and rec.path in MODELS:
            return self._create(rec.path, rec.json())
        if rec.path.startswith("/v1/tasks/"):
            task_id = rec.path.rsplit("/", 1)[1]
            if rec.method == "GET":
                return self._get(task_id)
            if rec.method == "DELETE":
                return self._delete(task_id)
        return runway_error(404, "Not found")

    def _create(self, path: str, body: dict[str, Any]) -> web.Response:
        if self.busy_next > 0:
            self.busy_next -= 1
            return runway_error(429, "You have exceeded the rate limit for this API.", headers={"Retry-After": "2"})
        if body.get("model") not in MODELS[path]:
            return invalid("model", f"Invalid enum value for this endpoint: {body.get('model')!r}")
        text = body.get("promptText")
        if text is not None and (not isinstance(text, str) or not 0 < len(text) <= 1000):
            return invalid("promptText", "String must contain between 1 and 1000 character(s)")
        image = path == "/v1/text_to_image"
        if body.get("ratio") not in (_IMAGE_RATIOS if image else _VIDEO_RATIOS):
            return invalid("ratio", f"Invalid enum value: {body.get('ratio')!r}")
        if path == "/v1/image_to_video":
            prompt_image = body.get("promptImage")
            if isinstance(prompt_image, list):
                if not prompt_image or any(p.get("position") not in ("first", "last") for p in prompt_image):
                    return invalid("promptImage", "position must be 'first' or 'last'")
            elif not isinstance(prompt_image, str):
                return invalid("promptImage", "Required")
        elif not text:
            return invalid("promptText", "Required")
        if not image and "duration" in body and (not isinstance(body["duration"], int)
                                                 or not 2 <= body["duration"] <= 10):
            return invalid("duration", "Number must be an integer from 2 to 10")
        task = self.book.add(str(uuid.uuid4()), body=body, image=image)
        return web.json_response({"id": task["id"]})

    def _get(self, task_id: str) -> web.Response:
        if self.book.rate_limited():
            return runway_error(429, "You have exceeded the rate limit for this API.", headers={"Retry-After": "1"})
        task = self.book.advance(task_id)
        if task is None:
            return runway_error(404, "Task not found")
        status = self.book.status(task)
        out: dict[str, Any] = {"id": task_id, "status": status,
                               "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(task["created_at"]))}
        if status == "RUNNING":
            out["progress"] = 0.42
        if status == "SUCCEEDED":
            name, data, ctype = (f"{task_id}.png", PNG, "image/png") if task["image"] else (f"{task_id}.mp4", MP4,
                                                                                          "video/mp4")
            out["output"] = [self.files.publish(self.url, name, data, ctype)]
        if status == "FAILED":
            out["failure"] = "Your input may violate our content policy."
            out["failureCode"] = "SAFETY.INPUT.TEXT"
        return web.json_response(out)

    def _delete(self, task_id: str) -> web.Response:
        task = self.book.tasks.get(task_id)
        if task is None:
            return runway_error(404, "Task not found")
        task["forced"] = "CANCELLED"
        return web.Response(status=204)
