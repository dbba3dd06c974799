"""Runway's wire format: Bearer + `X-Runway-Version`, one endpoint per task type, camelCase
bodies with a pixel `ratio`, the `/v1/tasks/{id}` task object and its `{error}` answers."""

from __future__ import annotations

from typing import Any

import orjson

from relayport.media_sizes import parse_size
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

# The API version the plugin speaks; a deployment may pin another with `headers`.
API_VERSION = "2024-11-06"
# Runway: "do not expect updates more frequent than once every five seconds for a given task".
POLL_EVERY = 5.0
_STATUS = {"PENDING": TaskStatus.QUEUED, "THROTTLED": TaskStatus.QUEUED, "RUNNING": TaskStatus.RUNNING,
           "SUCCEEDED": TaskStatus.SUCCEEDED, "FAILED": TaskStatus.FAILED, "CANCELLED": TaskStatus.CANCELLED}
# Runway's ratios are output resolutions; a plain aspect ratio picks the usual one.
_VIDEO_RATIOS = {"16:9": "1280:720", "9:16": "720:1280", "4:3": "1104:832", "3:4": "832:1104", "1:1": "960:960",
                 "21:9": "1584:672"}
_IMAGE_RATIOS = {"16:9": "1920:1080", "9:16": "1080:1920", "1:1": "1024:1024", "4:3": "1440:1080",
                 "3:4": "1080:1440", "21:9": "2112:912"}
_NOT_RUNWAY = frozenset({"fps", "operation", "seconds", "watermark", "style", "quality"})


def headers(deployment: Deployment) -> dict[str, str]:
    return {"X-Runway-Version": API_VERSION, **deployment.auth_headers(), "Content-Type": "application/json"}


def vendor_model(model: str) -> str:
    return model.removeprefix("runway-")  # `runway-gen4_turbo` reads better next to other vendors' names


def _ratio(request: MediaRequest, table: dict[str, str], adjustments: list[str]) -> str:
    pixels = parse_size(request.size)
    if pixels:
        return f"{pixels[0]}:{pixels[1]}"
    wanted = request.aspect_ratio
    if wanted is None:
        adjustments.append(f"ratio {table['16:9']} chosen")  # Runway requires one
        return table["16:9"]
    if wanted in table:
        return table[wanted]
    sides = wanted.split(":")
    if len(sides) == 2 and all(s.isdigit() and int(s) > 99 for s in sides):
        return wanted  # already Runway's form (`1280:720`)
    raise GatewayError(400, f"Invalid value for 'aspect_ratio': {wanted!r}; use one of {', '.join(table)}.",
                       param="aspect_ratio", code="invalid_value")


def _frames(request: MediaRequest) -> str | list[dict[str, str]]:
    images = request.media.images
    roles = request.media.roles.get("images") or []
    if len(images) == 1 and roles[:1] != ["last_frame"]:
        return images[0]
    out = []
    for i, uri in enumerate(images[:2]):
        role = roles[i] if i < len(roles) else ("first_frame" if i == 0 else "last_frame")
        out.append({"uri": uri, "position": "last" if role == "last_frame" else "first"})
    return out


def submit(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_RUNWAY}
    model = vendor_model(deployment.model)
    body["model"] = model
    adjustments: list[str] = []
    if request.prompt:
        body["promptText"] = request.prompt
    if request.seed is not None:
        body["seed"] = request.seed
    if request.kind is MediaKind.VIDEO:
        path = "/v1/image_to_video" if request.media.images else "/v1/text_to_video"
        if request.media.images:
            body["promptImage"] = _frames(request)
        elif not request.prompt:
            raise GatewayError(400, "runway: text to video needs a prompt.", param="prompt",
                               code="missing_required_parameter")
        body["ratio"] = _ratio(request, _VIDEO_RATIOS, adjustments)
        if request.duration is not None:
            body["duration"] = max(1, round(request.duration))
            if body["duration"] != request.duration:
                adjustments.append(f"duration {request.duration:g} rounded to {body['duration']}")
        if request.negative_prompt:
            if model.startswith("veo"):
                body["negativePrompt"] = request.negative_prompt
            else:
                adjustments.append("negative_prompt dropped")
        if request.media.voices or request.media.videos or len(request.media.images) > 2:
            adjustments.append("voices, videos and images past the first two dropped")
    elif request.kind is MediaKind.IMAGE:
        path = "/v1/text_to_image"
        if not request.prompt:
            raise GatewayError(400, "runway: text to image needs a prompt.", param="prompt",
                               code="missing_required_parameter")
        body["ratio"] = _ratio(request, _IMAGE_RATIOS, adjustments)
        if request.media.images:
            body["referenceImages"] = [{"uri": uri} for uri in request.media.images]
        if request.n not in (None, 1):
            adjustments.append("n set to 1")
    else:
        raise GatewayError(400, f"runway: model '{request.model}' makes videos and images.", param="model",
                           code="unsupported_operation")
    return UpstreamRequest("POST", deployment.url(path), headers(deployment), orjson.dumps(body),
                           adjustments=adjustments)


def parse_submit(deployment: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    task_id = response.json_object("runway").get("id")
    if not task_id:
        raise GatewayError(502, "runway: the submit answer has no id.", code="bad_upstream_response")
    return SubmittedTask(str(task_id), TaskUpdate(TaskStatus.QUEUED, poll_after=POLL_EVERY))


def poll(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("GET", deployment.url(f"/v1/tasks/{task.vendor_task_id}"), headers(deployment))


def cancel(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    # Runway: DELETE cancels a pending, throttled or running task (and deletes a finished one).
    return UpstreamRequest("DELETE", deployment.url(f"/v1/tasks/{task.vendor_task_id}"), headers(deployment))


def parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    obj = response.json_object("runway")
    word = str(obj.get("status"))
    status = _STATUS.get(word)
    if status is None:
        raise GatewayError(502, f"runway: unknown task status {word!r}.", code="bad_upstream_response")
    progress = obj.get("progress")
    progress = float(progress) if isinstance(progress, (int, float)) else None
    outputs: list[MediaOutput] = []
    if status is TaskStatus.SUCCEEDED:
        kind = "video/mp4" if task.request.kind is MediaKind.VIDEO else "image/png"
        outputs = [MediaOutput(url=u, media_type=kind) for u in obj.get("output") or [] if isinstance(u, str)]
        if not outputs:
            raise GatewayError(502, "runway: a SUCCEEDED task without output.", code="bad_upstream_response")
        progress = 1.0
    error = None
    if status is TaskStatus.FAILED:
        code = str(obj.get("failureCode") or "runway_task_failed")
        # SAFETY.* failures are the request's content; the rest are Runway's side.
        error = GatewayError(422 if code.startswith("SAFETY") else 502,
                             f"runway: {obj.get('failure') or 'the task failed'}", code=code)
    if status is TaskStatus.CANCELLED:
        error = GatewayError(409, "runway: the task was cancelled or deleted at Runway.", code="cancelled")
    return TaskUpdate(status, progress=progress, outputs=outputs, error=error, poll_after=POLL_EVERY)


def map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("error"), str):
        return None
    message = obj["error"]
    param = None
    issues = obj.get("issues")
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        path = issues[0].get("path") or []
        param = ".".join(str(p) for p in path) or None
        message += f": {issues[0].get('message') or ''}".rstrip(": ")
    status = response.status
    retry = response.headers.get("Retry-After")
    return GatewayError(status, f"runway: {message}", param=param,
                        retryable=status == 429 or status >= 500,
                        retry_after=float(retry) if retry and retry.isdigit() else None)

