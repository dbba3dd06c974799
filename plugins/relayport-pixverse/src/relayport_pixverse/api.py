"""PixVerse's platform API: `API-KEY` + `Ai-trace-id` headers, the `{ErrCode, ErrMsg, Resp}`
envelope, integer video statuses, and image-to-video's upload-then-generate steps.

PixVerse takes input images only as uploads (`POST /openapi/v2/image/upload`, multipart, no URL
form), so an image-to-video task is submitted as that upload; its first poll sends the generate
call with the `img_id`, and later polls read the video. The generate call's `Ai-trace-id` is
derived from the gateway's task id: PixVerse answers a repeated trace id with the first answer,
so a generate retried after an error or a restart never starts a second video.
"""

from __future__ import annotations

import uuid
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
from relayport.wire import multipart

# `status`: 1 success, 5 generating, 7 moderation failed, 8 generation failed (PixVerse's docs).
_SUCCESS, _GENERATING, _MODERATED, _FAILED = 1, 5, 7, 8
_QUALITIES = ("360p", "540p", "720p", "1080p")
_NOT_PIXVERSE = frozenset({"fps", "operation", "seconds", "watermark"})
_TRACE_NS = uuid.UUID("6f1c3a52-8f0e-4d53-9a57-1d0b0c3e2a11")


def headers(deployment: Deployment, trace_id: str | None = None, json: bool = True) -> dict[str, str]:
    key = deployment.api_key.reveal() if deployment.api_key else ""
    out = {**deployment.headers, "API-KEY": key, "Ai-trace-id": trace_id or str(uuid.uuid4())}
    if json:
        out["Content-Type"] = "application/json"
    return out


def vendor_model(model: str) -> tuple[str, str | None]:
    """Seed 001's `pixverse-v5.5-i2v` is PixVerse's `v5.5` in image-to-video mode."""
    mode = None
    for suffix in ("-t2v", "-i2v"):
        if model.endswith(suffix):
            model, mode = model[: -len(suffix)], suffix[1:]
    return model.removeprefix("pixverse-"), mode


def urls_to_fetch(deployment: Deployment, request: MediaRequest) -> list[str]:
    # The first image is uploaded as bytes: PixVerse does not read URLs.
    first = request.media.images[:1]
    return [u for u in first if u.startswith(("http://", "https://"))]


def _body(deployment: Deployment, request: MediaRequest, adjustments: list[str]) -> dict[str, Any]:
    model, _ = vendor_model(deployment.model)
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_PIXVERSE}
    body.update(model=model, prompt=request.prompt or "")
    duration = request.duration if request.duration is not None else 5
    body["duration"] = 8 if duration > 6.5 else 5  # PixVerse offers 5 s and 8 s
    if body["duration"] != duration:
        adjustments.append(f"duration {duration:g} rounded to {body['duration']}")
    pixels = parse_size(request.size)
    quality = (request.resolution or (resolution_tier(*pixels) if pixels else "540p")).lower()
    if quality not in _QUALITIES:
        raise GatewayError(400, f"Invalid value for 'resolution': {quality!r}; PixVerse offers "
                           f"{', '.join(_QUALITIES)}.", param="resolution", code="invalid_value")
    body["quality"] = quality
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        body["seed"] = request.seed
    if isinstance(request.extra.get("watermark"), bool):
        body["water_mark"] = request.extra["watermark"]
    return body


def _wants_image(deployment: Deployment, request: MediaRequest) -> bool:
    _, mode = vendor_model(deployment.model)
    if mode == "i2v" and not request.media.images:
        raise GatewayError(400, f"pixverse: model '{request.model}' needs an image in images[].", param="images",
                           code="missing_required_parameter")
    return bool(request.media.images) and mode != "t2v"


def submit(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is not MediaKind.VIDEO:
        raise GatewayError(400, f"pixverse: model '{request.model}' makes videos; use /v1/videos/generations.",
                           param="model", code="unsupported_operation")
    if not request.prompt:
        raise GatewayError(400, "pixverse: a prompt is required.", param="prompt", code="missing_required_parameter")
    adjustments: list[str] = []
    body = _body(deployment, request, adjustments)  # checked now, so a bad request never uploads
    if not _wants_image(deployment, request):
        if request.media.images:
            adjustments.append("images dropped (text-to-video model)")
        pixels = parse_size(request.size)
        body["aspect_ratio"] = request.aspect_ratio or (aspect_ratio(*pixels) if pixels else "16:9")
        return UpstreamRequest("POST", deployment.url("/openapi/v2/video/text/generate"), headers(deployment),
                               orjson.dumps(body), adjustments=adjustments)
    url = request.media.images[0]
    got = request.fetched.get(url)
    data, media_type = (got.body, got.content_type) if got is not None else multipart.decode_data_url(url, "images")
    if len(request.media.images) > 1 or request.media.voices or request.media.videos:
        adjustments.append("only the first image is used")
    if request.aspect_ratio or request.size:
        adjustments.append("aspect ratio dropped (image-to-video follows its image)")
    form, content_type = multipart.encode({}, [("image", data, media_type)])
    return UpstreamRequest("POST", deployment.url("/openapi/v2/image/upload"),
                           {**headers(deployment, json=False), "Content-Type": content_type}, form,
                           adjustments=adjustments)


def _resp(response: UpstreamResponse) -> dict[str, Any]:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "pixverse: the answer is not JSON.", code="bad_upstream_response") from None
    if not isinstance(obj, dict):
        raise GatewayError(502, "pixverse: the answer is not a JSON object.", code="bad_upstream_response")
    if obj.get("ErrCode") not in (0, None):
        raise envelope_error(obj)
    resp = obj.get("Resp")
    if not isinstance(resp, dict):
        raise GatewayError(502, "pixverse: the answer has no Resp.", code="bad_upstream_response")
    return resp


def envelope_error(obj: dict[str, Any], status: int | None = None, retry_after: float | None = None) -> GatewayError:
    """PixVerse answers errors in its envelope (often under HTTP 200): the status comes from
    what the message says, as its error table groups them."""
    message = str(obj.get("ErrMsg") or "error")
    low = message.lower()
    if status is None or status < 400:
        status = (401 if "api-key" in low or "api key" in low else
                  429 if "concurrent" in low or "rate limit" in low or "too many" in low else
                  402 if "credit" in low or "balance" in low else 400)
    return GatewayError(status, f"pixverse: {message} (ErrCode {obj.get('ErrCode')}).", code=str(obj.get("ErrCode")),
                        retryable=status == 429 or status >= 500, retry_after=retry_after)


def parse_submit(deployment: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    resp = _resp(response)
    if "img_id" in resp:  # the upload step of image-to-video: the generate call comes on the first poll
        return SubmittedTask(f"img-{resp['img_id']}", TaskUpdate(TaskStatus.QUEUED),
                             vendor_state={"img_id": resp["img_id"]})
    if "video_id" not in resp:
        raise GatewayError(502, "pixverse: the answer has no video_id.", code="bad_upstream_response")
    return SubmittedTask(str(resp["video_id"]), TaskUpdate(TaskStatus.QUEUED),
                         vendor_state={"video_id": resp["video_id"]})


def poll(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    video_id = task.vendor_state.get("video_id")
    if video_id is not None:
        return UpstreamRequest("GET", deployment.url(f"/openapi/v2/video/result/{video_id}"), headers(deployment))
    body = _body(deployment, task.request, [])
    body["img_id"] = task.vendor_state["img_id"]
    trace = str(uuid.uuid5(_TRACE_NS, task.id))
    return UpstreamRequest("POST", deployment.url("/openapi/v2/video/img/generate"), headers(deployment, trace),
                           orjson.dumps(body))


def parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    if task.vendor_state.get("video_id") is None:
        try:
            resp = _resp(response)
        except GatewayError as err:
            if err.retryable:
                raise  # a 429 or a PixVerse hiccup: the same trace id is tried again
            return TaskUpdate(TaskStatus.FAILED, error=err)  # PixVerse refused the generate call
        if "video_id" not in resp:
            raise GatewayError(502, "pixverse: the generate answer has no video_id.", code="bad_upstream_response")
        return TaskUpdate(TaskStatus.QUEUED, vendor_state={"video_id": resp["video_id"]})
    resp = _resp(response)
    status = resp.get("status")
    if status == _GENERATING:
        return TaskUpdate(TaskStatus.RUNNING)
    if status == _SUCCESS:
        url = resp.get("url")
        if not isinstance(url, str) or not url:
            raise GatewayError(502, "pixverse: a finished video without url.", code="bad_upstream_response")
        extra = {k: resp[k] for k in ("outputWidth", "outputHeight", "seed") if k in resp}
        return TaskUpdate(TaskStatus.SUCCEEDED, progress=1.0, outputs=[MediaOutput(url=url, media_type="video/mp4",
                                                                                    extra=extra)])
    if status == _MODERATED:
        return TaskUpdate(TaskStatus.FAILED, error=GatewayError(
            422, "pixverse: the content did not pass moderation (status 7).", code="content_moderated"))
    if status == _FAILED:
        return TaskUpdate(TaskStatus.FAILED, error=GatewayError(
            502, "pixverse: the generation failed (status 8).", code="generation_failed"))
    raise GatewayError(502, f"pixverse: unknown video status {status!r}.", code="bad_upstream_response")


def map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or "ErrCode" not in obj:
        return None
    retry = response.headers.get("Retry-After")
    return envelope_error(obj, response.status, float(retry) if retry and retry.isdigit() else None)
