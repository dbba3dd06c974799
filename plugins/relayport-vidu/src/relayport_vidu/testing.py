"""A fake Vidu API for tests: `Token` auth, the four `/ent/v2` generation endpoints with the
image counts each takes, tasks that go created -> queueing -> processing -> success one state per
poll, `creations[].url` links that expire, cancel while not yet processing, 429s, and Vidu's
`{code, reason, message, metadata}` error envelope."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.task_fakes import MP4, PNG, ExpiringFiles, TaskBook

__all__ = ["KEY", "MP4", "PNG", "FakeVidu"]

KEY = "vda_test_0123456789abcdef"
MODELS = frozenset({"viduq3-pro", "viduq2-pro", "viduq2-turbo", "viduq2", "viduq1", "vidu2.0", "vidu1.5"})
# How many images each mode takes (Vidu's endpoint docs).
IMAGES = {"text2video": (0, 0), "img2video": (1, 1), "start-end2video": (2, 2), "reference2video": (1, 7)}
RESOLUTIONS = frozenset({"360p", "540p", "720p", "1080p"})
RATIOS = frozenset({"16:9", "9:16", "1:1", "3:4", "4:3"})


def vidu_error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response({"code": status, "reason": reason, "message": message,
                              "metadata": {"trace_id": f"{abs(hash(message)):032x}"[:32]}}, status=status)


class FakeVidu(FakeUpstream):
    def __init__(self, lifetime: float = 86400.0) -> None:
        super().__init__(default=self._answer)
        self.book = TaskBook(("created", "queueing", "processing", "success"))
        self.files = ExpiringFiles(lifetime)  # Vidu: `url` and `cover_url` valid 24 hours
        self.busy_next = 0  # submits to refuse with 429

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        served = self.files.serve(rec)
        if served is not None:
            return served
        if rec.headers.get("authorization") != f"Token {KEY}":
            return vidu_error(401, "Unauthorized", "invalid api key")
        parts = rec.path.strip("/").split("/")
        if parts[:2] != ["ent", "v2"] or len(parts) < 3:
            return vidu_error(404, "NotFound", "not found")
        if rec.method == "POST" and len(parts) == 3 and parts[2] in IMAGES:
            return self._submit(parts[2], rec.json())
        if parts[2] == "tasks" and len(parts) == 5 and parts[4] == "creations" and rec.method == "GET":
            return self._creations(parts[3])
        if parts[2] == "tasks" and len(parts) == 5 and parts[4] == "cancel" and rec.method == "POST":
            return self._cancel(parts[3], rec.json())
        return vidu_error(404, "NotFound", "not found")

    def _submit(self, family: str, body: dict[str, Any]) -> web.Response:
        if self.busy_next > 0:
            self.busy_next -= 1
            return vidu_error(429, "TooManyRequests", "too many requests, please try again later")
        if body.get("model") not in MODELS:
            return vidu_error(400, "BadRequest", f"model {body.get('model')!r} is not supported")
        images = body.get("images") or []
        low, high = IMAGES[family]
        if not low <= len(images) <= high:
            return vidu_error(400, "BadRequest", f"{family} takes {low}-{high} images, got {len(images)}")
        if family == "text2video" and not body.get("prompt"):
            return vidu_error(400, "BadRequest", "prompt is required")
        if body.get("resolution", "720p") not in RESOLUTIONS:
            return vidu_error(400, "BadRequest", f"resolution {body.get('resolution')!r} is invalid")
        if "aspect_ratio" in body and (family not in ("text2video", "reference2video")
                                       or body["aspect_ratio"] not in RATIOS):
            return vidu_error(400, "BadRequest", f"aspect_ratio {body['aspect_ratio']!r} is invalid")
        if not isinstance(body.get("duration", 5), int):
            return vidu_error(400, "BadRequest", "duration must be an integer")
        task_id = str(880_000_000_000_000_000 + len(self.book.tasks) + 1)
        task = self.book.add(task_id, family=family, body=body)
        return web.json_response({
            "task_id": task_id, "type": family, "state": "created", "model": body["model"],
            "prompt": body.get("prompt", ""), "images": images, "duration": body.get("duration", 5),
            "seed": body.get("seed", 1234), "resolution": body.get("resolution", "720p"),
            "movement_amplitude": body.get("movement_amplitude", "auto"), "bgm": body.get("bgm", False),
            "payload": body.get("payload", ""), "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(task["created_at"])),
        })

    def _creations(self, task_id: str) -> web.Response:
        if self.book.rate_limited():
            return vidu_error(429, "TooManyRequests", "too many requests, please try again later")
        task = self.book.advance(task_id)
        if task is None:
            return vidu_error(404, "NotFound", "task not found")
        state = self.book.status(task)
        answer: dict[str, Any] = {"id": task_id, "state": state, "err_code": "", "credits": 20,
                                  "payload": task["body"].get("payload", ""), "bgm": False, "off_peak": False,
                                  "creations": []}
        if state == "success":
            answer["creations"] = [{
                "id": f"c-{task_id}",
                "url": self.files.publish(self.url, f"{task_id}.mp4", MP4, "video/mp4"),
                "cover_url": self.files.publish(self.url, f"{task_id}.png", PNG, "image/png"),
            }]
        if state == "failed":
            answer["err_code"] = task.get("err_code") or "CreationPolicyViolation"
        return web.json_response(answer)

    def _cancel(self, task_id: str, body: dict[str, Any]) -> web.Response:
        task = self.book.tasks.get(task_id)
        if task is None or body.get("id") != task_id:
            return vidu_error(404, "NotFound", "task not found")
        state = self.book.status(task)
        if state not in ("created", "queueing"):
            return vidu_error(400, "BadRequest", f"task state is {state}, can not cancel")
        task["forced"], task["err_code"] = "failed", "TaskCanceled"
        return web.json_response({})
