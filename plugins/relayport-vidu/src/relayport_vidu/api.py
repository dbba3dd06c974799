"""Vidu's wire format: `Token` auth, one endpoint per generation mode under `/ent/v2`, the
`creations` poll and Vidu's `{code, reason, message, metadata}` error envelope."""

from __future__ import annotations

from typing import Any

import orjson

from relayport.media_sizes import aspect_ratio, parse_size, resolution_tier
from relayport.model import (
    GatewayError,
    MediaKind,
    MediaOutput,
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskStatus,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.provider import Deployment

_STATUS = {"created": TaskStatus.QUEUED, "queueing": TaskStatus.QUEUED, "processing": TaskStatus.RUNNING,
           "success": TaskStatus.SUCCEEDED, "failed": TaskStatus.FAILED}
FAMILIES = ("text2video", "img2video", "start-end2video", "reference2video")
# Unified-form fields the gateway maps itself or that mean nothing to Vidu.
_NOT_VIDU = frozenset({"fps", "operation", "seconds"})


def headers(deployment: Deployment) -> dict[str, str]:
    key = deployment.api_key.reveal() if deployment.api_key else ""
    # Vidu's own scheme word: `Token <key>`, not Bearer.
    return {**deployment.headers, "Authorization": "Token " + key, "Content-Type": "application/json"}


def vendor_model(model: str) -> tuple[str, str | None]:
    """Vidu's model name and the family a name like seed 001's `vidu-2.0-img2video` fixes.

    `vidu-2.0` and `vidu-1.5` are the aggregators' spelling of Vidu's `vidu2.0` / `vidu1.5`.
    """
    family = None
    for f in FAMILIES:
        if model.endswith("-" + f):
            family, model = f, model[: -len(f) - 1]
            break
    if model.startswith("vidu-") and model[5:6].isdigit():
        model = "vidu" + model[5:]
    return model, family


def _family(request: MediaRequest, fixed: str | None) -> str:
    if fixed:
        return fixed
    images = request.media.images
    roles = set(request.media.roles.get("images") or [])
    if not images:
        return "text2video"
    if "reference" in roles or "reference_image" in roles or len(images) > 2:
        return "reference2video"
    if len(images) == 2 or "last_frame" in roles:
        return "start-end2video"
    return "img2video"


def _ordered_frames(request: MediaRequest) -> list[str]:
    # start-end2video wants [start, end]; a client may list the last frame first with roles.
    images = list(request.media.images)
    roles = request.media.roles.get("images") or []
    if len(images) == 2 and len(roles) == 2 and roles[0] == "last_frame" and roles[1] != "last_frame":
        images.reverse()
    return images


def submit(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is not MediaKind.VIDEO:
        raise GatewayError(400, f"vidu: model '{request.model}' makes videos; use /v1/videos/generations.",
                           param="model", code="unsupported_operation")
    model, fixed = vendor_model(deployment.model)
    family = _family(request, fixed)
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_VIDU}
    body["model"] = model
    if request.prompt:
        body["prompt"] = request.prompt
    elif family == "text2video":
        raise GatewayError(400, "vidu: text to video needs a prompt.", param="prompt", code="missing_required_parameter")
    adjustments: list[str] = []
    if family != "text2video":
        if not request.media.images:
            raise GatewayError(400, f"vidu: {family} needs images[].", param="images", code="missing_required_parameter")
        body["images"] = _ordered_frames(request)
    if request.duration is not None:
        body["duration"] = max(1, round(request.duration))
        if body["duration"] != request.duration:
            adjustments.append(f"duration {request.duration:g} rounded to {body['duration']}")
    if request.seed is not None:
        body["seed"] = request.seed
    pixels = parse_size(request.size)
    if request.resolution:
        body["resolution"] = request.resolution.lower()  # Vidu spells tiers `720p`; seed 003 writes `720P`
    elif pixels:
        body["resolution"] = resolution_tier(*pixels)
    # Only text2video and reference2video take a ratio; the other modes follow their images.
    if family in ("text2video", "reference2video"):
        if request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio
        elif pixels:
            body["aspect_ratio"] = aspect_ratio(*pixels)
    elif request.aspect_ratio or pixels:
        body.pop("aspect_ratio", None)
        adjustments.append(f"aspect ratio dropped ({family} follows its images)")
    if request.negative_prompt:
        adjustments.append("negative_prompt dropped")  # Vidu has no such field
    if request.media.voices or request.media.videos:
        adjustments.append("voices and videos dropped")
    return UpstreamRequest("POST", deployment.url(f"/ent/v2/{family}"), headers(deployment), orjson.dumps(body),
                           adjustments=adjustments)


def parse_submit(deployment: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    obj = response.json_object("vidu")
    task_id = obj.get("task_id")
    if not task_id:
        raise GatewayError(502, "vidu: the submit answer has no task_id.", code="bad_upstream_response")
    return SubmittedTask(str(task_id), _update(obj))


def poll(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("GET", deployment.url(f"/ent/v2/tasks/{task.vendor_task_id}/creations"),
                           headers(deployment))


def parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return _update(response.json_object("vidu"))


def cancel(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("POST", deployment.url(f"/ent/v2/tasks/{task.vendor_task_id}/cancel"),
                           headers(deployment), orjson.dumps({"id": task.vendor_task_id}))


def _update(obj: dict[str, Any]) -> TaskUpdate:
    word = str(obj.get("state") or "created")
    status = _STATUS.get(word)
    if status is None:
        raise GatewayError(502, f"vidu: unknown task state {word!r}.", code="bad_upstream_response")
    outputs: list[MediaOutput] = []
    if status is TaskStatus.SUCCEEDED:
        for c in obj.get("creations") or []:
            if isinstance(c, dict) and c.get("url"):
                outputs.append(MediaOutput(url=c["url"], media_type="video/mp4",
                                           extra={k: c[k] for k in ("id", "cover_url") if c.get(k)}))
        if not outputs:
            raise GatewayError(502, "vidu: a successful task without creations[].url.", code="bad_upstream_response")
    error = None
    if status is TaskStatus.FAILED:
        code = str(obj.get("err_code") or "vidu_task_failed")
        error = GatewayError(422, f"vidu: the task failed ({code}).", code=code)
    return TaskUpdate(status, outputs=outputs, error=error)


def map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not ("message" in obj or "reason" in obj):
        return None
    status = response.status
    retry = response.headers.get("Retry-After")
    reason = str(obj.get("reason") or "")
    return GatewayError(status, f"vidu: {obj.get('message') or reason or 'error'}", code=reason or None,
                        retryable=status == 429 or status >= 500,
                        retry_after=float(retry) if retry and retry.isdigit() else None)
