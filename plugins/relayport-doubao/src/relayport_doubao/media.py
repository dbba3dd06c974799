"""Ark's media APIs: Seedance video tasks and Seedream images.

From the Ark API reference (volcengine.com/docs/82379, "视频生成 API", "图片生成 API") and the Ark SDK:
- Seedance: `POST /contents/generations/tasks` with a `content` list (a `text` item, then
  `image_url` items with `role` first_frame | last_frame | reference_image, `video_url` /
  `audio_url` references) and top-level `resolution`, `ratio`, `duration`, `seed`,
  `watermark`... answers `{"id": "cgt-..."}`; `GET .../tasks/{id}` answers `status` queued |
  running | succeeded | failed | cancelled, `content.video_url`, `usage`, `error`;
  `DELETE .../tasks/{id}` cancels a task that is still queued;
- Seedream: `POST /images/generations` (synchronous): `data[{url | b64_json, size}]`, `usage`;
  more than one image is a "group" (`sequential_image_generation: auto`, `max_images`).
Embeddings need nothing here: Ark's `/embeddings` is OpenAI's, served by the core's default.
"""

from __future__ import annotations

from typing import Any

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
    Usage,
)
from relayport.provider import Deployment
from relayport.wire.media import size_of
from relayport_doubao.errors import envelope_error

TASKS = "/contents/generations/tasks"
_STATUS = {"queued": TaskStatus.QUEUED, "running": TaskStatus.RUNNING, "succeeded": TaskStatus.SUCCEEDED,
           "failed": TaskStatus.FAILED, "cancelled": TaskStatus.CANCELLED}
_RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9"})
# The unified form's role words -> Seedance's.
_IMAGE_ROLES = {"first_frame": "first_frame", "last_frame": "last_frame", "reference": "reference_image",
                "reference_image": "reference_image"}
# Unified-form fields that are the gateway's own or mean nothing to Ark.
_NOT_ARK = frozenset({"operation", "seconds", "style", "mask", "fps"})


def _headers(dep: Deployment) -> dict[str, str]:
    return {**dep.auth_headers(), "Content-Type": "application/json"}


def _roles(request: MediaRequest) -> list[str]:
    images = request.media.images
    given = request.media.roles.get("images") or []
    if given:
        return [_IMAGE_ROLES.get(str(given[i]) if i < len(given) else "", "reference_image")
                for i in range(len(images))]
    # Without roles: one image starts the video, two bound it, more are references.
    if len(images) <= 2:
        return ["first_frame", "last_frame"][:len(images)]
    return ["reference_image"] * len(images)


def _from_size(size: str, body: dict[str, Any], adjustments: list[str]) -> None:
    """Seedance takes `ratio` and `resolution`, not pixels: OpenAI's `size` becomes both."""
    wh = parse_size(size)
    if wh is None:
        adjustments.append(f"size {size} ignored: Seedance takes resolution and aspect_ratio")
        return
    w, h = wh
    ratio = aspect_ratio(w, h)
    if ratio in _RATIOS:
        body.setdefault("ratio", ratio)
    short = min(w, h)
    body.setdefault("resolution", "480p" if short < 600 else "720p" if short < 900 else "1080p")
    if ratio not in _RATIOS or short not in (480, 720, 1080):
        adjustments.append(f"size {size} sent as {body['resolution']}"
                           + (f" {body['ratio']}" if "ratio" in body else ""))


def video(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    adjustments: list[str] = []
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_ARK}
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}] if request.prompt else []
    for url, role in zip(request.media.images, _roles(request), strict=True):
        content.append({"type": "image_url", "image_url": {"url": url}, "role": role})
    content += [{"type": "video_url", "video_url": {"url": u}, "role": "reference_video"} for u in request.media.videos]
    content += [{"type": "audio_url", "audio_url": {"url": u}, "role": "reference_audio"} for u in request.media.voices]
    body.update(model=dep.model, content=content)
    if request.resolution:
        body["resolution"] = request.resolution.lower()  # the seed's "720P" is Ark's "720p"
    if request.aspect_ratio:
        body["ratio"] = request.aspect_ratio
    if request.size:
        _from_size(request.size, body, adjustments)
    if request.duration is not None:
        body["duration"] = round(request.duration)
    if request.seed is not None:
        body["seed"] = request.seed
    dropped = [f for f in ("fps", "style") if f in request.extra] + (["negative_prompt"] if request.negative_prompt else [])
    if dropped:
        adjustments.append(f"{' and '.join(dropped)} dropped: Seedance has none")
    return UpstreamRequest("POST", dep.url(TASKS), _headers(dep), orjson.dumps(body), adjustments=adjustments)


def image(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_ARK}
    body.update(model=dep.model, prompt=request.prompt or "")
    images = request.media.images
    if images:
        body["image"] = images[0] if len(images) == 1 else images
    if request.size:
        wh = size_of(request.size)
        body["size"] = f"{wh[0]}x{wh[1]}" if wh else request.size  # or Ark's "1K" / "2K" / "4K"
    if request.seed is not None:
        body["seed"] = request.seed
    if request.response_format in ("url", "b64_json"):
        body["response_format"] = request.response_format
    if request.n is not None and request.n > 1:
        body.setdefault("sequential_image_generation", "auto")
        body.setdefault("sequential_image_generation_options", {"max_images": request.n})
    return UpstreamRequest("POST", dep.url("/images/generations"), _headers(dep), orjson.dumps(body))


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is MediaKind.VIDEO:
        return video(dep, request)
    if request.kind is MediaKind.IMAGE:
        return image(dep, request)
    raise GatewayError(400, f"doubao: model '{request.model}' does not make speech.", param="model",
                       code="unsupported_operation")


def load(response: UpstreamResponse) -> dict[str, Any]:
    return response.json_object("doubao")


def parse_submit(dep: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    obj = load(response)
    if request.kind is MediaKind.VIDEO:
        if not obj.get("id"):
            raise GatewayError(502, "doubao: the answer has no task id.", code="bad_upstream_response")
        return SubmittedTask(str(obj["id"]), TaskUpdate(TaskStatus.QUEUED))
    outputs = []
    for item in obj.get("data") or ():
        if isinstance(item, dict) and (item.get("url") or item.get("b64_json")):
            outputs.append(MediaOutput(url=item.get("url"), b64=item.get("b64_json"), media_type="image/jpeg",
                                       extra={"size": item["size"]} if item.get("size") else {}))
    if not outputs:
        err = next((i["error"] for i in obj.get("data") or () if isinstance(i, dict) and i.get("error")), None)
        raise envelope_error({"error": err}, 400) if isinstance(err, dict) else GatewayError(
            502, "doubao: the answer has no image.", code="bad_upstream_response")
    u = obj.get("usage") or {}
    usage = Usage(output_tokens=int(u.get("output_tokens") or 0),
                  extra={"generated_images": u["generated_images"]} if "generated_images" in u else {})
    return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=outputs, usage=usage))


def poll(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("GET", dep.url(f"{TASKS}/{task.vendor_task_id}"), dep.auth_headers())


def cancel(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("DELETE", dep.url(f"{TASKS}/{task.vendor_task_id}"), dep.auth_headers())


def parse_poll(dep: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return update(load(response))


def update(obj: dict[str, Any]) -> TaskUpdate:
    word = str(obj.get("status") or "queued")
    # Unknown words are taken as "still working": Ark adds states without notice.
    status = _STATUS.get(word, TaskStatus.RUNNING)
    u = obj.get("usage") or {}
    usage = Usage(output_tokens=int(u.get("completion_tokens") or 0)) if u else None
    if status is TaskStatus.FAILED:
        err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
        return TaskUpdate(status, usage=usage, error=GatewayError(
            422, f"doubao: {err.get('message') or 'the task failed'}", code=str(err.get("code") or "doubao_task_failed")))
    if status is not TaskStatus.SUCCEEDED:
        return TaskUpdate(status)
    content = obj.get("content") or {}
    url = content.get("video_url") if isinstance(content, dict) else None
    if not url:
        return TaskUpdate(TaskStatus.FAILED, error=GatewayError(
            502, "doubao: the task succeeded without a video.", code="no_content"))
    extra = {"last_frame_url": content["last_frame_url"]} if content.get("last_frame_url") else {}
    return TaskUpdate(status, outputs=[MediaOutput(url=url, media_type="video/mp4", extra=extra)], usage=usage)
