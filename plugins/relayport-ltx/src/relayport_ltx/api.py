"""LTX's wire format (Lightricks, `api.ltx.video/v1`): Bearer auth, `text-to-video` and
`image-to-video`, and no task at all: the answer to the POST is the MP4 itself, after the render.

The gateway still makes it a task (so `/v1/videos`, the content route and callbacks work as for
every video vendor): the submit call waits for the render (within the deployment's first-byte
timeout, 600 s by default), and its answer is a finished task whose one output is the video,
stored in the gateway's result store at once. LTX's `x-request-id` is the vendor task id.
"""

from __future__ import annotations

import base64
import uuid
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

# Common names for a tier: LTX takes the frame size itself (`1920x1080`).
_TIERS = {"1080p": "1920x1080", "1440p": "2560x1440", "2160p": "3840x2160", "4k": "3840x2160"}
_NOT_LTX = frozenset({"operation", "seconds", "watermark", "style"})


def submit(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is not MediaKind.VIDEO:
        raise GatewayError(400, f"ltx: model '{request.model}' makes videos; use /v1/videos/generations.",
                           param="model", code="unsupported_operation")
    if not request.prompt:
        raise GatewayError(400, "ltx: a prompt is required.", param="prompt", code="missing_required_parameter")
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_LTX}
    body.update(prompt=request.prompt, model=deployment.model)
    adjustments: list[str] = []
    if request.duration is not None:
        body["duration"] = max(1, round(request.duration))
        if body["duration"] != request.duration:
            adjustments.append(f"duration {request.duration:g} rounded to {body['duration']}")
    pixels = parse_size(request.size)
    if pixels:
        body["resolution"] = f"{pixels[0]}x{pixels[1]}"
    elif request.resolution:
        tier = request.resolution.lower()
        if tier not in _TIERS and parse_size(tier) is None:
            raise GatewayError(400, f"Invalid value for 'resolution': {request.resolution!r}; LTX takes WxH or "
                               f"{', '.join(_TIERS)}.", param="resolution", code="invalid_value")
        body["resolution"] = _TIERS.get(tier, tier)
    path = "/text-to-video"
    if request.media.images:
        body["image_uri"] = request.media.images[0]  # an https URL or a data URI
        path = "/image-to-video"
        if len(request.media.images) > 1:
            adjustments.append("only the first image is used")
    if request.negative_prompt or request.aspect_ratio or request.media.voices or request.media.videos:
        adjustments.append("negative_prompt, aspect_ratio, voices and videos dropped")
    return UpstreamRequest("POST", deployment.url(path), {**deployment.auth_headers(), "Content-Type": "application/json"},
                           orjson.dumps(body), adjustments=adjustments)


def parse_submit(deployment: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    if not content_type.startswith("video/") or not response.body:
        raise GatewayError(502, f"ltx: expected the video, got {content_type or 'no content type'}.",
                           code="bad_upstream_response")
    request_id = response.headers.get("x-request-id") or f"ltx-{uuid.uuid4()}"
    video = MediaOutput(b64=base64.b64encode(response.body).decode(), media_type=content_type)
    # What `?format=native` shows: LTX's answer is the file, so its headers stand in for a body.
    native = {"request_id": request_id, "content_type": content_type, "bytes": len(response.body)}
    return SubmittedTask(request_id, TaskUpdate(TaskStatus.SUCCEEDED, progress=1.0, outputs=[video], native=native))


def poll(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    # Never reached for a finished task; a task LTX did not finish cannot be asked about.
    raise GatewayError(501, "ltx: LTX answers with the video itself and has no task to poll.",
                       code="unsupported_operation")


def parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    raise GatewayError(501, "ltx: LTX has no task to poll.", code="unsupported_operation")


def map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return None
    kind = str(err.get("type") or "")
    status = response.status
    retry = response.headers.get("Retry-After")
    return GatewayError(status, f"ltx: {err.get('message') or kind or 'error'}", code=kind or None,
                        retryable=status == 429 or status >= 500,
                        retry_after=float(retry) if retry and retry.isdigit() else None)
