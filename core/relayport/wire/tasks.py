"""Task objects as clients see them: the unified shape, OpenAI's video object, the seed's submit reply."""

from __future__ import annotations

from typing import Any

from relayport.model.media import MediaKind, TaskRecord, TaskStatus

_PREFIX = {MediaKind.VIDEO: "/v1/videos/generations", MediaKind.IMAGE: "/v1/images/generations",
           MediaKind.SPEECH: "/v1/audio/tasks"}
_OPENAI_VIDEO_STATUS = {TaskStatus.QUEUED: "queued", TaskStatus.RUNNING: "in_progress",
                        TaskStatus.SUCCEEDED: "completed", TaskStatus.FAILED: "failed",
                        TaskStatus.CANCELLED: "failed"}


def content_path(task: TaskRecord, index: int = 0) -> str:
    path = f"{_PREFIX[task.request.kind]}/{task.id}/content"
    return path if index == 0 else f"{path}?index={index}"


def _percent(task: TaskRecord) -> int | None:
    if task.status is TaskStatus.SUCCEEDED:
        return 100
    return None if task.progress is None else max(0, min(100, round(task.progress * 100)))


def _error(task: TaskRecord) -> dict[str, Any] | None:
    if task.error is None:
        return None
    return {"code": task.error.code or task.error.type, "message": task.error.message}


def unified(task: TaskRecord, origin: str | None = None) -> dict[str, Any]:
    """One shape for every vendor; the vendor's own last answer rides under `vendor`."""
    base = task.origin if origin is None else origin
    outputs = []
    if task.status is TaskStatus.SUCCEEDED:
        for i, out in enumerate(task.outputs):
            outputs.append({"url": base + content_path(task, i), "vendor_url": out.url,
                            "media_type": out.media_type,
                            # A video is fetched from `url`, never inlined in the task object.
                            **({"b64": out.b64} if out.b64 and not (out.media_type or "").startswith("video/")
                               else {})})
    usage = None
    if task.usage is not None:
        u = task.usage
        usage = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                 "total_tokens": u.total_tokens, **u.extra}
    return {
        "id": task.id,
        "task_id": task.id,
        "object": f"{task.request.kind.value}.task",
        "model": task.request.model,
        "status": task.status.value,
        "progress": _percent(task),
        "created_at": int(task.created_at),
        "updated_at": int(task.updated_at),
        "completed_at": int(task.completed_at) if task.completed_at else None,
        "result": {"outputs": outputs} if outputs else None,
        "error": _error(task),
        "usage": usage,
        "vendor": task.native,
    }


def openai_video(task: TaskRecord) -> dict[str, Any]:
    """OpenAI's video object (`client.videos.retrieve`) for a task of any vendor."""
    req = task.request
    seconds = req.duration if req.duration is not None else req.extra.get("seconds", 4)
    if isinstance(seconds, float) and seconds.is_integer():
        seconds = int(seconds)
    return {
        "id": task.id,
        "object": "video",
        "model": req.model,
        "status": _OPENAI_VIDEO_STATUS[task.status],
        "progress": _percent(task) or 0,
        "created_at": int(task.created_at),
        "completed_at": int(task.completed_at) if task.completed_at else None,
        "expires_at": None,
        "prompt": req.prompt,
        "seconds": str(seconds),
        "size": req.size or "720x1280",
        "remixed_from_video_id": None,
        "error": _error(task),
    }
