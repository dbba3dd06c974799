"""Zhipu's media APIs: CogVideoX video tasks, CogView / GLM-Image images, embedding-3.

From docs.bigmodel.cn / docs.z.ai (Video API, Image API, Embeddings) and the Zhipu SDKs:
- video: `POST /videos/generations` `{model, prompt, image_url, size, fps, duration, quality,
  with_audio}` answers `{id, task_status: "PROCESSING"}`; `GET /async-result/{id}` answers
  `task_status` PROCESSING | SUCCESS | FAIL with `video_result[{url, cover_image_url}]`;
- images: `POST /images/generations` is synchronous (`data[{url}]`, one image per call); GLM-Image
  also has `POST /async/images/generations`, polled on the same `/async-result/{id}`. Its
  result field is not documented: `image_result[{url}]` is read (what the video result's
  naming suggests), and `data[{url}]` too;
- embeddings: `POST /embeddings` `{model, input, dimensions}`, OpenAI's answer shape; Zhipu
  documents no `encoding_format`, so floats are asked for (nothing extra is sent).
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model import (
    EmbeddingRequest,
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
from relayport.wire.media import size_of

_STATUS = {"PROCESSING": TaskStatus.RUNNING, "SUCCESS": TaskStatus.SUCCEEDED, "FAIL": TaskStatus.FAILED}
# Unified-form fields with no Zhipu meaning (the gateway's own, or other vendors').
_NOT_ZHIPU = frozenset({"operation", "seconds", "style", "watermark", "mask"})
# CogVideoX takes one image (first frame) or two (first and last frame); the seed's aggregator
# says "1~4 reference frames", which no Zhipu document backs: the first two are sent.
_MAX_FRAMES = 2
_FPS = (30, 60)  # CogVideoX renders at these rates only
# The unified form's `resolution` as CogVideoX's landscape `size`.
_RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


def _headers(dep: Deployment) -> dict[str, str]:
    return {**dep.auth_headers(), "Content-Type": "application/json"}


def _size(size: str | None) -> str | None:
    wh = size_of(size)
    return f"{wh[0]}x{wh[1]}" if wh else size


def _base(request: MediaRequest, dep: Deployment, adjustments: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_ZHIPU}
    body.update(model=dep.model, prompt=request.prompt or "")
    if request.size:
        body["size"] = _size(request.size)
    if isinstance(request.extra.get("watermark"), bool):
        body["watermark_enabled"] = request.extra["watermark"]
    dropped = (["style"] if request.extra.get("style") else []) + (["negative_prompt"] if request.negative_prompt else [])
    if dropped:
        adjustments.append(f"{' and '.join(dropped)} dropped: Zhipu has none")
    return body


def _video_knobs(request: MediaRequest, body: dict[str, Any], adjustments: list[str]) -> None:
    """The seed's `resolution` and `aspect_ratio` as a `size`; `fps` onto the rates CogVideoX has."""
    wh = _RESOLUTIONS.get((request.resolution or "").lower())
    if wh and "size" not in body:
        w, h = wh
        ratio = request.aspect_ratio or "16:9"
        body["size"] = f"{h}x{w}" if ratio == "9:16" else f"{h}x{h}" if ratio == "1:1" else f"{w}x{h}"
    elif request.resolution and "size" not in body:
        adjustments.append(f"resolution {request.resolution} dropped: CogVideoX takes 720P 1080P or 4K")
    fps = body.get("fps")
    if isinstance(fps, (int, float)) and fps not in _FPS and str(body["model"]).startswith("cogvideox"):
        body["fps"] = min(_FPS, key=lambda f: abs(f - fps))
        adjustments.append(f"fps {fps:g} sent as {body['fps']}: CogVideoX renders 30 or 60")


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    adjustments: list[str] = []
    body = _base(request, dep, adjustments)
    if request.kind is MediaKind.VIDEO:
        _video_knobs(request, body, adjustments)
        frames = request.media.images[:_MAX_FRAMES]
        if len(request.media.images) > _MAX_FRAMES:
            adjustments.append(f"images after the first {_MAX_FRAMES} dropped")
        if frames:
            body["image_url"] = frames[0] if len(frames) == 1 else frames
        if request.duration is not None:
            body["duration"] = round(request.duration)
        if request.media.videos or request.media.voices:
            adjustments.append("videos and voices dropped: CogVideoX takes images only")
        return UpstreamRequest("POST", dep.url("/videos/generations"), _headers(dep), orjson.dumps(body),
                               adjustments=adjustments)
    if request.kind is not MediaKind.IMAGE:
        raise GatewayError(400, f"zhipu: model '{request.model}' does not make {request.kind.value}.",
                           param="model", code="unsupported_operation")
    if request.n is not None and request.n > 1:
        adjustments.append(f"n={request.n} reduced to 1: Zhipu makes one image per call")
    if request.media.images:
        adjustments.append("images dropped: Zhipu's image models take no reference image")
    path = "/async/images/generations" if request.asynchronous else "/images/generations"
    return UpstreamRequest("POST", dep.url(path), _headers(dep), orjson.dumps(body), adjustments=adjustments)


def load(response: UpstreamResponse) -> dict[str, Any]:
    return response.json_object("zhipu")


def _urls(items: Any, media_type: str) -> list[MediaOutput]:
    out = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            extra = {k: item[k] for k in ("cover_image_url", "revised_prompt") if item.get(k)}
            out.append(MediaOutput(url=item["url"], media_type=media_type, extra=extra))
    return out


def parse_submit(dep: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    obj = load(response)
    if request.kind is MediaKind.IMAGE and not request.asynchronous:
        outputs = _urls(obj.get("data"), "image/png")
        if not outputs:
            raise GatewayError(502, "zhipu: the answer has no image.", code="bad_upstream_response")
        return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=outputs))
    if not obj.get("id"):
        raise GatewayError(502, "zhipu: the answer has no task id.", code="bad_upstream_response")
    return SubmittedTask(str(obj["id"]), update(obj, request.kind))


def poll(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("GET", dep.url(f"/async-result/{task.vendor_task_id}"), dep.auth_headers())


def parse_poll(dep: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return update(load(response), task.request.kind)


def update(obj: dict[str, Any], kind: MediaKind) -> TaskUpdate:
    word = str(obj.get("task_status") or "PROCESSING")
    status = _STATUS.get(word)
    if status is None:
        raise GatewayError(502, f"zhipu: unknown task status {word!r}.", code="bad_upstream_response")
    if status is TaskStatus.FAILED:
        err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
        return TaskUpdate(status, error=GatewayError(
            422, f"zhipu: {err.get('message') or 'the task failed'}", code=str(err.get("code") or "zhipu_task_failed")))
    if status is not TaskStatus.SUCCEEDED:
        return TaskUpdate(status)
    if kind is MediaKind.VIDEO:
        outputs = _urls(obj.get("video_result"), "video/mp4")
    else:
        outputs = _urls(obj.get("image_result"), "image/png") or _urls(obj.get("data"), "image/png")
    if not outputs:
        return TaskUpdate(TaskStatus.FAILED, error=GatewayError(
            502, "zhipu: the task succeeded without a result.", code="no_content"))
    return TaskUpdate(status, outputs=outputs)


def embeddings_request(dep: Deployment, request: EmbeddingRequest) -> UpstreamRequest:
    value = request.input
    if isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
        raise GatewayError(400, "zhipu: 'input' must be text (a string or strings); token arrays are not taken.",
                           param="input", code="invalid_value")
    body: dict[str, Any] = {**request.extra, "model": dep.model, "input": value}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return UpstreamRequest("POST", dep.url("/embeddings"), _headers(dep), orjson.dumps(body))
