"""A finished media task as a call record: what it produced, in the units media prices use.

A task is billed once, when it becomes final (the runner's compare-and-set decides which poll,
on which instance, that is): images at `price.image` each, video at `price.video_second`,
speech at `price.speech_1k_chars`. The vendor's own count wins where its plugin reports one in
`Usage.extra` (`image_count`, `video_seconds`, `characters`, as the seed's aggregators answer);
otherwise the gateway counts: the images returned, the seconds asked for per video returned,
the characters of the text spoken.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from relayport.accounts.prices import MediaUnits
from relayport.calls import CallRecord
from relayport.model.media import MediaKind, MediaRequest, TaskRecord, TaskStatus
from relayport.model.usage import Usage

# Usage.extra keys a plugin may set with the vendor's own count, per kind.
IMAGE_KEYS = ("image_count", "images")
VIDEO_KEYS = ("video_seconds", "video_duration", "duration")
SPEECH_KEYS = ("characters",)


def _reported(extra: dict[str, Any], names: tuple[str, ...]) -> Decimal | None:
    for name in names:
        value = extra.get(name)
        if isinstance(value, bool) or value is None:
            continue
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            continue
        if number.is_finite() and number >= 0:
            return number
    return None


def media_units(task: TaskRecord) -> MediaUnits | None:
    """What a succeeded task produced; None for a task that failed or was cancelled."""
    if task.status is not TaskStatus.SUCCEEDED:
        return None
    extra = task.usage.extra if task.usage is not None else {}
    req = task.request
    if req.kind is MediaKind.IMAGE:
        count = _reported(extra, IMAGE_KEYS)
        return MediaUnits(images=int(count) if count is not None else len(task.outputs))
    if req.kind is MediaKind.VIDEO:
        seconds = _reported(extra, VIDEO_KEYS)
        if seconds is None:
            each = Decimal(str(req.duration)) if req.duration else Decimal(0)
            seconds = each * max(1, len(task.outputs))
        return MediaUnits(video_seconds=seconds)
    return speech_units(req, task.usage)


def speech_units(req: MediaRequest, usage: Usage | None) -> MediaUnits:
    """Speech is billed by the characters spoken: the vendor's count, else the input's length
    (a streamed speech call is metered so too, without a task)."""
    chars = _reported(usage.extra if usage is not None else {}, SPEECH_KEYS)
    return MediaUnits(speech_chars=int(chars) if chars is not None else len(req.prompt or ""))


def task_record(task: TaskRecord, label: str) -> CallRecord:
    """The call record of a task that just became final. `label`: its deployment as the
    router names it. Status: 200 when it succeeded, else its error's (499 when cancelled)."""
    err = task.error
    if task.status is TaskStatus.SUCCEEDED:
        status, code = 200, None
    elif task.status is TaskStatus.CANCELLED:
        status, code = 499, "task_cancelled"
    else:
        status, code = (err.status, err.code or err.type) if err is not None else (502, "task_failed")
    end = task.completed_at or task.updated_at
    return CallRecord(
        request_id=task.id, caller=task.caller, model=task.deployment or task.model, provider=task.provider,
        deployment=label, upstream_model=task.model, status=status, error=code, usage=task.usage,
        latency=max(0.0, end - task.created_at), media=media_units(task),
    )
