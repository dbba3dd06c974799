"""A made-up asynchronous video vendor ("clip") and its fake server with a real task state machine.

Jobs go waiting -> working -> done (or error) one step per poll; results are files the fake
serves only while they have not expired; DELETE cancels; `limit_next` answers polls with 429.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from relayport import hookimpl
from relayport.model import GatewayError, MediaOutput, SubmittedTask, TaskStatus, TaskUpdate, UpstreamRequest
from relayport.provider import ProviderSpec
from relayport.testing.fakes import FakeUpstream, RecordedRequest

CLIP_KEY = "clip-secret-key"
VIDEO = bytes(range(256)) * 256  # 64 KiB, every byte value, so Range offsets are checkable

_STATUS = {"waiting": TaskStatus.QUEUED, "working": TaskStatus.RUNNING, "done": TaskStatus.SUCCEEDED,
           "error": TaskStatus.FAILED, "cancelled": TaskStatus.CANCELLED}


class ClipPlugin:
    @hookimpl
    def relayport_register_providers(self, register):
        register(ProviderSpec(name="clip", base_url="https://clip.example", key_env=("CLIP_KEY",),
                              capabilities=frozenset({"video_generation"})))

    @hookimpl
    def relayport_submit_task(self, deployment, request):
        return UpstreamRequest("POST", deployment.url("/v1/clips"), deployment.auth_headers(),
                               json={"model": deployment.model, "prompt": request.prompt,
                                     "seconds": request.duration, "images": request.media.images})

    @hookimpl
    def relayport_parse_submit(self, deployment, request, response):
        return SubmittedTask(orjson.loads(response.body)["job"])

    @hookimpl
    def relayport_poll_request(self, deployment, task):
        return UpstreamRequest("GET", deployment.url(f"/v1/clips/{task.vendor_task_id}"), deployment.auth_headers())

    @hookimpl
    def relayport_parse_poll(self, deployment, task, response):
        obj = orjson.loads(response.body)
        return TaskUpdate(_STATUS[obj["state"]], progress=obj.get("progress"),
                          outputs=[MediaOutput(url=obj["url"])] if obj.get("url") else [],
                          error=GatewayError(400, obj["reason"], code="clip_failed") if obj.get("reason") else None)

    @hookimpl
    def relayport_cancel_request(self, deployment, task):
        return UpstreamRequest("DELETE", deployment.url(f"/v1/clips/{task.vendor_task_id}"),
                               deployment.auth_headers())

    @hookimpl
    def relayport_map_error(self, deployment, response):
        if deployment.provider.name != "clip":
            return None
        retry = response.headers.get("Retry-After")
        return GatewayError(response.status, "clip: " + response.body.decode(errors="replace"),
                            retryable=response.status in (429, 503),
                            retry_after=float(retry) if retry else None)


class ClipServer(FakeUpstream):
    def __init__(self, steps: tuple[str, ...] = ("waiting", "working", "done"), expires: float = 3600.0) -> None:
        super().__init__(default=self._answer)
        self.steps = steps
        self.expires = expires
        self.jobs: dict[str, dict[str, Any]] = {}
        self.limit_next = 0  # polls to answer with 429
        self.retry_after = "1"
        self.arrivals: dict[int, float] = {}  # id(recorded request) -> when it arrived

    def polls(self, job: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "GET" and r.path.startswith("/v1/clips/")
                and (job is None or r.path.endswith("/" + job))]

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        self.arrivals[id(rec)] = time.time()
        if rec.path.startswith("/files/"):
            job = self.jobs.get(rec.path[len("/files/"):].removesuffix(".mp4"))
            if job is None or time.time() > job["done_at"] + self.expires:
                return web.Response(status=403, text="expired")
            return web.Response(body=VIDEO, content_type="video/mp4")
        if rec.headers.get("authorization") != f"Bearer {CLIP_KEY}":
            return web.Response(status=401, text="bad key")
        if rec.method == "POST" and rec.path == "/v1/clips":
            job = f"clip-{len(self.jobs) + 1}"
            self.jobs[job] = {"step": 0, "done_at": float("inf"), "cancelled": False}
            return web.json_response({"job": job})
        job_id = rec.path.rsplit("/", 1)[-1]
        job = self.jobs.get(job_id)
        if job is None:
            return web.Response(status=404, text="no such job")
        if rec.method == "DELETE":
            job["cancelled"] = True
            return web.json_response({"state": "cancelled"})
        if self.limit_next > 0:
            self.limit_next -= 1
            return web.Response(status=429, text="slow down", headers={"Retry-After": self.retry_after})
        if job["cancelled"]:
            return web.json_response({"state": "cancelled"})
        state = self.steps[min(job["step"], len(self.steps) - 1)]
        job["step"] += 1
        body: dict[str, Any] = {"state": state, "progress": job["step"] / len(self.steps)}
        if state == "done":
            job["done_at"] = min(job["done_at"], time.time())
            body["url"] = f"{self.url}/files/{job_id}.mp4"
        if state == "error":
            body["reason"] = "the clip could not be made"
        return web.json_response(body)


def clip_config(server: ClipServer, **tasks: Any) -> dict[str, Any]:
    return {"models": [{"name": "clip-1", "provider": "clip", "base_url": server.url, "api_key": CLIP_KEY}],
            "tasks": {"poll_interval": 0.05, "jitter": 0.0, **tasks}}
