"""Pieces the fake media vendors share: task state machines that advance one status word per
poll, and result files behind signed URLs that expire, as the vendors' object storage serves them."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

from aiohttp import web

from relayport.testing.fakes import RecordedRequest
from relayport.testing.openai_media import MP4, PNG

__all__ = ["MP4", "PNG", "ExpiringFiles", "TaskBook", "serving"]


class _Server(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...


F = TypeVar("F", bound=_Server)


def serving(fake: F) -> Iterator[F]:
    """A fixture's body for a fake vendor: `yield from serving(FakeVidu())` runs it for the test."""
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


class TaskBook:
    """Tasks keyed by id; each poll moves a task one step along `steps` (the vendor's own words)."""

    def __init__(self, steps: tuple[str, ...]) -> None:
        self.steps = steps
        self.tasks: dict[str, dict[str, Any]] = {}
        self.limit_next = 0  # the next polls answer the vendor's 429

    def add(self, task_id: str, **fields: Any) -> dict[str, Any]:
        task = {"id": task_id, "step": 0, "created_at": int(time.time()), **fields}
        self.tasks[task_id] = task
        return task

    def status(self, task: dict[str, Any]) -> str:
        return str(task.get("forced") or self.steps[min(task["step"], len(self.steps) - 1)])

    def advance(self, task_id: str) -> dict[str, Any] | None:
        task = self.tasks.get(task_id)
        if task is not None and not task.get("forced"):
            task["step"] += 1
        return task

    def rate_limited(self) -> bool:
        if self.limit_next > 0:
            self.limit_next -= 1
            return True
        return False


class ExpiringFiles:
    """`/files/<name>?Expires=<t>&Signature=<s>`: served until `t`, then 403 (as OSS/TOS/S3 answer)."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self.files: dict[str, tuple[bytes, str]] = {}
        # When each signed URL really expires: its `Expires` is whole seconds, as the vendors'
        # are, which would cut a 1 s lifetime to anything from 0 to 1 s (a test racing that
        # lost whenever the file was published late in a second).
        self.deadlines: dict[tuple[str, int], float] = {}
        self.downloads = 0

    def publish(self, base: str, name: str, data: bytes, content_type: str) -> str:
        self.files[name] = (data, content_type)
        deadline = time.time() + self.lifetime
        expires = int(deadline)
        self.deadlines[(name, expires)] = deadline
        return f"{base}/files/{name}?Expires={expires}&Signature={self._sign(name, expires)}"

    @staticmethod
    def _sign(name: str, expires: int) -> str:
        return hashlib.sha256(f"{name}:{expires}".encode()).hexdigest()[:16]

    def serve(self, rec: RecordedRequest) -> web.Response | None:
        """The answer for a file URL, or None when `rec` is not one."""
        if not rec.path.startswith("/files/"):
            return None
        name = rec.path[len("/files/"):]
        found = self.files.get(name)
        try:
            expires = int(rec.query.get("Expires", "0"))
        except ValueError:
            expires = 0
        if found is None or rec.query.get("Signature") != self._sign(name, expires):
            return web.Response(status=403, text="<Error><Code>SignatureDoesNotMatch</Code></Error>",
                                content_type="application/xml")
        if time.time() > self.deadlines.get((name, expires), expires):
            return web.Response(status=403, text="<Error><Code>AccessDenied</Code><Message>Request has expired"
                                "</Message></Error>", content_type="application/xml")
        self.downloads += 1
        return web.Response(body=found[0], content_type=found[1])
