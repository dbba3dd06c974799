"""Kling's wire format: JWT auth, the text2video / image2video bodies, the `{code, data}` envelope."""

from __future__ import annotations

import time
from typing import Any

import jwt
import orjson

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

_STATUS = {"submitted": TaskStatus.QUEUED, "processing": TaskStatus.RUNNING, "succeed": TaskStatus.SUCCEEDED,
           "failed": TaskStatus.FAILED}
# Unified-form fields that are the gateway's own or mean nothing to Kling.
_NOT_KLING = frozenset({"watermark", "fps", "operation", "seconds", "style", "resolution"})
# Kling's auth codes (HTTP 401) and account/rate codes (HTTP 429) from its error table.
_RETRYABLE_CODES = frozenset({1302, 1303, 1304, 5000, 5001, 5002})


def token(deployment: Deployment, now: float | None = None) -> str:
    """A fresh HS256 JWT: iss = access key, valid 30 minutes, `nbf` 5 s back for clock skew."""
    key = deployment.api_key.reveal() if deployment.api_key else ""
    access, sep, secret = key.partition("|")
    if not sep or not access or not secret:
        raise GatewayError(500, "kling: the key must be 'access_key|secret_key'.", code="bad_vendor_key")
    now = int(now or time.time())
    return jwt.encode({"iss": access, "exp": now + 1800, "nbf": now - 5}, secret, algorithm="HS256",
                      headers={"alg": "HS256", "typ": "JWT"})


def _headers(deployment: Deployment) -> dict[str, str]:
    return {**deployment.headers, "Authorization": "Bearer " + token(deployment),
            "Content-Type": "application/json"}


def _image(value: str) -> str:
    # Kling takes a URL or bare base64 (no data: prefix).
    return value.split(",", 1)[1] if value.startswith("data:") and "," in value else value


def _frames(request: MediaRequest) -> tuple[str | None, str | None]:
    images = request.media.images
    roles = request.media.roles.get("images") or []
    first = last = None
    for i, url in enumerate(images):
        role = roles[i] if i < len(roles) else None
        if role == "last_frame":
            last = url
        elif first is None:
            first = url
        elif last is None:
            last = url
    return first, last


def submit(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is not MediaKind.VIDEO:
        raise GatewayError(400, f"kling: model '{request.model}' makes videos; use /v1/videos/generations.",
                           param="model", code="unsupported_operation")
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_KLING}
    body.update(model_name=deployment.model, prompt=request.prompt or "")
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    if request.duration is not None:
        body["duration"] = "10" if request.duration > 7.5 else "5"  # Kling offers 5 s and 10 s
    if request.aspect_ratio:
        body["aspect_ratio"] = request.aspect_ratio
    if request.resolution and "mode" not in body:
        # Kling picks quality by mode: "std" renders 720p, "pro" 1080p.
        body["mode"] = "pro" if request.resolution.lower().startswith("1080") else "std"
    if isinstance(request.extra.get("watermark"), bool):
        body["watermark_info"] = {"enabled": request.extra["watermark"]}
    first, last = _frames(request)
    family = "image2video" if first or last else "text2video"
    if first:
        body["image"] = _image(first)
    if last:
        body["image_tail"] = _image(last)
    return UpstreamRequest("POST", deployment.url(f"/v1/videos/{family}"), _headers(deployment),
                           orjson.dumps(body), adjustments=_adjusted(request))


def _adjusted(request: MediaRequest) -> list[str]:
    out = []
    if request.duration is not None and request.duration not in (5, 10):
        out.append(f"duration {request.duration:g} rounded to {'10' if request.duration > 7.5 else '5'}")
    if request.media.voices or request.media.videos:
        out.append("voices and videos dropped")  # these endpoints take images only
    return out


def _envelope(response: UpstreamResponse) -> dict[str, Any]:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "kling: the answer is not JSON.", code="bad_upstream_response") from None
    code = obj.get("code") if isinstance(obj, dict) else None
    if code not in (0, None):
        raise GatewayError(400, f"kling: {obj.get('message') or 'error'} (code {code}).", code=str(code),
                           retryable=code in _RETRYABLE_CODES)
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, dict):
        raise GatewayError(502, "kling: the answer has no 'data'.", code="bad_upstream_response")
    return data


def parse_submit(deployment: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    data = _envelope(response)
    family = "image2video" if request.media.images else "text2video"
    # Kling answers a poll only on the family the task was submitted to: keep it.
    return SubmittedTask(str(data["task_id"]), _update(data), vendor_state={"family": family})


def poll(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    family = task.vendor_state.get("family", "text2video")
    return UpstreamRequest("GET", deployment.url(f"/v1/videos/{family}/{task.vendor_task_id}"),
                           _headers(deployment))


def parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return _update(_envelope(response))


def _update(data: dict[str, Any]) -> TaskUpdate:
    status_word = str(data.get("task_status") or "submitted")
    status = _STATUS.get(status_word)
    if status is None:
        raise GatewayError(502, f"kling: unknown task status {status_word!r}.", code="bad_upstream_response")
    outputs = []
    if status is TaskStatus.SUCCEEDED:
        videos = (data.get("task_result") or {}).get("videos") or []
        outputs = [MediaOutput(url=v["url"], media_type="video/mp4",
                               extra={k: v[k] for k in ("id", "duration") if k in v}) for v in videos if v.get("url")]
    error = None
    if status is TaskStatus.FAILED:
        error = GatewayError(422, f"kling: {data.get('task_status_msg') or 'the task failed'}", code="kling_task_failed")
    return TaskUpdate(status, outputs=outputs, error=error)


def map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or "code" not in obj:
        return None
    status = response.status
    retry = response.headers.get("Retry-After")
    return GatewayError(status, f"kling: {obj.get('message') or 'error'} (code {obj['code']}).", code=str(obj["code"]),
                        retryable=status == 429 or status >= 500,
                        retry_after=float(retry) if retry and retry.isdigit() else None)
