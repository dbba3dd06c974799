"""BFL's wire format: `POST /v1/<model>` with `x-key`, `{id, polling_url}`, and the poll statuses."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from relayport.media_sizes import aspect_ratio, parse_size
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

# BFL suggests polling about every 0.5-1.5 s; its results expire ~10 minutes after Ready.
POLL_EVERY = 1.0
_FAILED = {"Error": "bfl_error", "Request Moderated": "request_moderated", "Content Moderated": "content_moderated",
           "Task not found": "task_not_found", "Failed": "bfl_failed"}
_NOT_BFL = frozenset({"operation", "watermark", "style", "quality", "mask"})


def submit(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is not MediaKind.IMAGE:
        raise GatewayError(400, f"bfl: model '{request.model}' makes images; use /v1/images/generations.",
                           param="model", code="unsupported_operation")
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_BFL}
    body["prompt"] = request.prompt or ""
    kontext = deployment.model.startswith("flux-kontext")
    if request.size:
        pixels = parse_size(request.size)
        if pixels is None:
            raise GatewayError(400, f"Invalid value for 'size': {request.size!r}; use WxH.", param="size",
                               code="invalid_value")
        if kontext:  # Kontext takes an aspect ratio, not pixels
            body.setdefault("aspect_ratio", aspect_ratio(*pixels))
        else:
            body.update(width=pixels[0], height=pixels[1])
    if request.aspect_ratio:
        body["aspect_ratio"] = request.aspect_ratio
    if request.seed is not None:
        body["seed"] = request.seed
    if request.media.images:
        # Kontext edits one input image (URL or base64); more go as input_image_2.. (Kontext multi-ref).
        for i, image in enumerate(request.media.images[:4]):
            value = image.split(",", 1)[1] if image.startswith("data:") and "," in image else image
            body["input_image" if i == 0 else f"input_image_{i + 1}"] = value
    adjustments = []
    if request.n not in (None, 1):
        adjustments.append("n set to 1")  # one image per BFL task
    return UpstreamRequest("POST", deployment.url(f"/v1/{deployment.model}"),
                           {**deployment.auth_headers(), "Content-Type": "application/json"},
                           orjson.dumps(body), adjustments=adjustments)


def parse_submit(deployment: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    try:
        obj = orjson.loads(response.body)
        task_id = str(obj["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise GatewayError(502, "bfl: the submit answer has no task id.", code="bad_upstream_response") from None
    state = {"polling_url": obj["polling_url"]} if isinstance(obj.get("polling_url"), str) else {}
    return SubmittedTask(task_id, TaskUpdate(TaskStatus.QUEUED, poll_after=POLL_EVERY), vendor_state=state)


def poll(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    url = task.vendor_state.get("polling_url")
    if not url:
        url = deployment.url(f"/v1/get_result?id={task.vendor_task_id}")
    host = (urlsplit(url).hostname or "").lower()
    base_host = (urlsplit(deployment.base_url).hostname or "").lower()
    # The polling URL comes from the vendor's answer: the key goes only to BFL's own hosts.
    if host != base_host and host != "bfl.ai" and not host.endswith(".bfl.ai"):
        raise GatewayError(502, f"bfl: refusing to send the key to polling host {host!r}.", code="bad_polling_url")
    return UpstreamRequest("GET", url, deployment.auth_headers())


def parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "bfl: the poll answer is not JSON.", code="bad_upstream_response") from None
    status = obj.get("status")
    progress = obj.get("progress")
    progress = float(progress) if isinstance(progress, (int, float)) else None
    if progress is not None and progress > 1:
        progress /= 100
    if status == "Pending":
        return TaskUpdate(TaskStatus.RUNNING, progress=progress, poll_after=POLL_EVERY)
    if status == "Ready":
        sample = (obj.get("result") or {}).get("sample")
        if not isinstance(sample, str):
            raise GatewayError(502, "bfl: a Ready task without result.sample.", code="bad_upstream_response")
        fmt = task.request.extra.get("output_format") or "jpeg"
        return TaskUpdate(TaskStatus.SUCCEEDED, progress=1.0,
                          outputs=[MediaOutput(url=sample, media_type=f"image/{fmt}")])
    if status in _FAILED:
        details = obj.get("details") or obj.get("result") or {}
        reason = f"{status}" + (f": {details}" if details else "")
        return TaskUpdate(TaskStatus.FAILED, error=GatewayError(
            422 if "Moderated" in status else 502, f"bfl: {reason}", code=_FAILED[status]))
    raise GatewayError(502, f"bfl: unknown task status {status!r}.", code="bad_upstream_response")


def map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        obj = None
    detail = obj.get("detail") if isinstance(obj, dict) else None
    if isinstance(detail, list):  # FastAPI validation errors: [{loc, msg, type}]
        first = detail[0] if detail and isinstance(detail[0], dict) else {}
        loc = first.get("loc") or []
        param = str(loc[-1]) if loc else None
        message = f"bfl: {first.get('msg') or 'invalid request'}" + (f" ({param})" if param else "")
    else:
        param = None
        message = f"bfl: {detail or response.body[:200].decode(errors='replace') or 'HTTP ' + str(response.status)}"
    status = response.status
    retry = response.headers.get("Retry-After")
    return GatewayError(status, message, param=param, code={402: "insufficient_credits"}.get(status),
                        retryable=status in (429, 500, 502, 503),
                        retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)
