"""A fake Kling API for tests: JWT checks, the `{code, message, request_id, data}` envelope, and
tasks that go submitted -> processing -> succeed (or failed) one step per poll, polled only on
the family (text2video / image2video) they were submitted to."""

from __future__ import annotations

import time
from typing import Any

import jwt
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest

ACCESS_KEY = "ak-test-kling"
SECRET_KEY = "sk-test-kling-secret-0123456789abcdef"
KEY = f"{ACCESS_KEY}|{SECRET_KEY}"
VIDEO = b"\x00\x00\x00\x18ftypmp42kling" + bytes(range(256)) * 32


class FakeKling(FakeUpstream):
    def __init__(self) -> None:
        super().__init__(default=self._answer)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.steps: tuple[str, ...] = ("submitted", "processing", "succeed")
        self.limit_next = 0  # answers with Kling's 429 / code 1302

    def _reply(self, data: Any, code: int = 0, message: str = "SUCCEED", status: int = 200) -> web.Response:
        return web.json_response({"code": code, "message": message, "request_id": f"req-{len(self.requests)}",
                                  "data": data}, status=status)

    def _auth(self, rec: RecordedRequest) -> web.Response | None:
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return self._reply(None, 1001, "Authorization is empty", 401)
        try:
            claims = jwt.decode(auth[7:], SECRET_KEY, algorithms=["HS256"], options={"require": ["exp", "nbf", "iss"]})
        except jwt.ExpiredSignatureError:
            return self._reply(None, 1004, "Authorization is expired", 401)
        except jwt.ImmatureSignatureError:
            return self._reply(None, 1003, "Authorization is not yet valid", 401)
        except jwt.PyJWTError:
            return self._reply(None, 1002, "Authorization is invalid", 401)
        if claims["iss"] != ACCESS_KEY:
            return self._reply(None, 1002, "Authorization is invalid", 401)
        return None

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.path.startswith("/files/"):
            return web.Response(body=VIDEO, content_type="video/mp4")
        denied = self._auth(rec)
        if denied is not None:
            return denied
        parts = rec.path.strip("/").split("/")  # v1 videos <family> [task_id]
        if len(parts) < 3 or parts[:2] != ["v1", "videos"] or parts[2] not in ("text2video", "image2video"):
            return self._reply(None, 1200, "Not found", 404)
        family = parts[2]
        if rec.method == "POST" and len(parts) == 3:
            body = rec.json()
            if not body.get("model_name"):
                return self._reply(None, 1201, "model_name is required", 400)
            if family == "image2video" and not (body.get("image") or body.get("image_tail")):
                return self._reply(None, 1201, "image is required", 400)
            if body.get("mode") not in (None, "std", "pro"):
                return self._reply(None, 1201, "mode must be 'std' or 'pro'", 400)
            if body.get("duration") not in (None, "5", "10"):
                return self._reply(None, 1201, "duration must be '5' or '10'", 400)
            task_id = str(880000000000000000 + len(self.tasks) + 1)
            now = int(time.time() * 1000)
            self.tasks[task_id] = {"family": family, "step": 0, "created_at": now, "body": body}
            return self._reply({"task_id": task_id, "task_status": "submitted", "task_info": {},
                                "created_at": now, "updated_at": now})
        if rec.method == "GET" and len(parts) == 4:
            task = self.tasks.get(parts[3])
            if task is None or task["family"] != family:
                return self._reply(None, 1203, "task not found", 404)
            if self.limit_next > 0:
                self.limit_next -= 1
                return self._reply(None, 1302, "The API request is too fast, please slow down", 429)
            task["step"] += 1
            status = self.steps[min(task["step"], len(self.steps) - 1)]
            data: dict[str, Any] = {"task_id": parts[3], "task_status": status, "task_info": {},
                                    "created_at": task["created_at"], "updated_at": int(time.time() * 1000)}
            if status == "succeed":
                data["task_result"] = {"videos": [{"id": f"v-{parts[3]}", "url": f"{self.url}/files/{parts[3]}.mp4",
                                                   "duration": "5.1"}]}
            if status == "failed":
                data["task_status_msg"] = "Failure to pass the risk control system"
            return self._reply(data)
        return self._reply(None, 1200, "Not found", 404)
