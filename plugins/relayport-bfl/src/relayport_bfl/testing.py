"""A fake BFL API for tests: `x-key` auth, `{id, polling_url}` submits, a `Pending` -> `Ready` state
machine per task, result URLs that expire, moderation outcomes, 429 concurrency limits and
FastAPI-style 422 validation errors."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest

KEY = "bfl-test-key"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 16 + b"\xff\xd9"


class FakeBFL(FakeUpstream):
    def __init__(self, expires: float = 600.0) -> None:
        super().__init__(default=self._answer)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.steps: tuple[str, ...] = ("Pending", "Pending", "Ready")
        self.expires = expires
        self.busy_next = 0  # submits to refuse with 429

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.path.startswith("/results/"):
            task = self.tasks.get(rec.path.split("/")[2])
            if task is None or time.time() > task["ready_at"] + self.expires:
                return web.Response(status=403, text="<Error><Code>AccessDenied</Code>Request has expired</Error>",
                                    content_type="application/xml")
            return web.Response(body=JPEG, content_type="image/jpeg")
        if rec.headers.get("x-key") != KEY:
            return web.json_response({"detail": "Not authenticated - Invalid Authentication"}, status=403)
        if rec.method == "GET" and rec.path == "/v1/get_result":
            return self._result(rec.query.get("id", ""))
        if rec.method == "POST" and rec.path.startswith("/v1/flux-"):
            if self.busy_next > 0:
                self.busy_next -= 1
                return web.json_response({"detail": "Task limit exceeded. Please wait for tasks to finish."},
                                         status=429, headers={"Retry-After": "1"})
            body = rec.json()
            if not isinstance(body.get("prompt"), str):
                return web.json_response({"detail": [{"type": "missing", "loc": ["body", "prompt"],
                                                      "msg": "Field required", "input": body}]}, status=422)
            if "width" in body and (body["width"] % 32 or not 256 <= body["width"] <= 1440):
                return web.json_response({"detail": [{"type": "multiple_of", "loc": ["body", "width"],
                                                      "msg": "Input should be a multiple of 32"}]}, status=422)
            task_id = f"{len(self.tasks) + 1:08d}-bfl0-4000-8000-fake00000000"
            self.tasks[task_id] = {"step": 0, "ready_at": float("inf"), "body": body, "path": rec.path}
            return web.json_response({"id": task_id, "polling_url": f"{self.url}/v1/get_result?id={task_id}"})
        return web.json_response({"detail": "Not Found"}, status=404)

    def _result(self, task_id: str) -> web.Response:
        task = self.tasks.get(task_id)
        if task is None:
            return web.json_response({"id": task_id, "status": "Task not found", "result": None, "progress": None})
        task["step"] += 1
        status = self.steps[min(task["step"], len(self.steps) - 1)]
        answer: dict[str, Any] = {"id": task_id, "status": status, "result": None,
                                  "progress": min(0.99, task["step"] / len(self.steps)) if status == "Pending" else None}
        if status == "Ready":
            task["ready_at"] = min(task["ready_at"], time.time())
            answer["result"] = {"sample": f"{self.url}/results/{task_id}/sample.jpeg?se=2026&sig=fake",
                                "prompt": task["body"]["prompt"], "seed": 42, "start_time": task["ready_at"] - 3,
                                "end_time": task["ready_at"], "duration": 3.0}
        return web.json_response(answer)
