"""Veo video generation on the Gemini API, as a long-running operation.

`POST /v1beta/models/{model}:predictLongRunning` `{instances: [{prompt, image, lastFrame,
referenceImages}], parameters: {aspectRatio, durationSeconds, resolution, negativePrompt,
sampleCount, seed, personGeneration, ...}}` answers `{name: "models/.../operations/..."}`;
`GET /v1beta/{name}` answers the operation: no `done` while it runs, then `error`, or
`response.generateVideoResponse.generatedSamples[].video.uri`, or no samples and
`raiMediaFilteredCount` when safety filters removed them. The URI needs the API key (it answers
with a redirect to storage), so the result is copied into the gateway's result store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from relayport.model import (
    GatewayError,
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
from relayport_gemini.egress import api_root, model_path, request_headers
from relayport_gemini.errors import from_error_object
from relayport_gemini.generation import aspect_ratio, image_object

VEO_RATIOS = ("16:9", "9:16")
# Unified-form fields that are the gateway's own or have no Veo spelling.
_NOT_VEO = frozenset({"operation", "seconds", "watermark", "style", "mask"})


def _images(request: MediaRequest, instance: dict[str, Any]) -> None:
    images = request.media.images
    roles = request.media.roles.get("images") or []
    for i, url in enumerate(images):
        role = str(roles[i]) if i < len(roles) else ("first_frame" if i == 0 else
                                                     "last_frame" if len(images) == 2 else "reference")
        field = f"images[{i}]"
        if role == "first_frame" and "image" not in instance:
            instance["image"] = image_object(url, field, request.fetched)
        elif role == "last_frame":
            instance["lastFrame"] = image_object(url, field, request.fetched)
        else:
            kind = "style" if role == "style" else "asset"
            instance.setdefault("referenceImages", []).append(
                {"image": image_object(url, field, request.fetched), "referenceType": kind})


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    adjustments: list[str] = []
    instance: dict[str, Any] = {"prompt": request.prompt or ""}
    _images(request, instance)
    if request.media.videos:
        instance["video"] = {"uri": request.media.videos[0]}  # extending a Veo video Google made
    params: dict[str, Any] = {k: v for k, v in request.extra.items() if k not in _NOT_VEO}
    ratio = request.aspect_ratio or aspect_ratio(request.size, VEO_RATIOS, adjustments)
    if ratio:
        params["aspectRatio"] = ratio
    if request.duration is not None:
        params["durationSeconds"] = round(request.duration)
    if request.resolution:
        params["resolution"] = request.resolution.lower()
    if request.negative_prompt:
        params["negativePrompt"] = request.negative_prompt
    if request.n is not None:
        params["sampleCount"] = request.n
    if request.seed is not None:
        params["seed"] = request.seed
    if request.media.voices:
        adjustments.append("voices dropped: Veo takes no audio input")
    body = {"instances": [instance], "parameters": params}
    return UpstreamRequest("POST", model_path(dep, "predictLongRunning"), request_headers(dep), orjson.dumps(body),
                           adjustments=adjustments)


def parse_submit(response: UpstreamResponse) -> SubmittedTask:
    op = response.json_object("gemini")
    if not isinstance(op.get("name"), str):
        raise GatewayError(502, "gemini: the operation has no name.", code="bad_upstream_response")
    return SubmittedTask(op["name"], update(op))


def poll(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("GET", f"{api_root(dep)}/{task.vendor_task_id}", dep.auth_headers())


def parse_poll(response: UpstreamResponse) -> TaskUpdate:
    return update(response.json_object("gemini"))


def update(op: dict[str, Any]) -> TaskUpdate:
    if isinstance(op.get("error"), dict):
        err = op["error"]
        code = err.get("code")
        return TaskUpdate(TaskStatus.FAILED, error=from_error_object(err, code if isinstance(code, int)
                                                                      and 400 <= code <= 599 else 500))
    if not op.get("done"):
        return TaskUpdate(TaskStatus.RUNNING)
    result = (op.get("response") or {}).get("generateVideoResponse") or {}
    outputs = []
    for sample in result.get("generatedSamples") or ():
        video = sample.get("video") if isinstance(sample, dict) else None
        if isinstance(video, dict) and (video.get("uri") or video.get("encodedVideo")):
            outputs.append(MediaOutput(url=video.get("uri"), b64=video.get("encodedVideo"),
                                       media_type=video.get("encoding") or "video/mp4"))
    if outputs:
        return TaskUpdate(TaskStatus.SUCCEEDED, outputs=outputs)
    reasons = result.get("raiMediaFilteredReasons") or []
    if result.get("raiMediaFilteredCount"):
        return TaskUpdate(TaskStatus.FAILED, error=GatewayError(
            400, "gemini: the video was removed by Google's safety filters" + (f": {reasons[0]}" if reasons else "."),
            code="content_filter"))
    return TaskUpdate(TaskStatus.FAILED, error=GatewayError(502, "gemini: the operation ended without a video.",
                                                            code="no_content"))


def content(dep: Deployment, task: TaskRecord, index: int) -> UpstreamRequest | None:
    """The key goes with the download only to the API's own host (the Files API URI)."""
    if index >= len(task.outputs) or not task.outputs[index].url:
        return None
    url = task.outputs[index].url or ""
    same_host = urlsplit(url).netloc == urlsplit(dep.base_url).netloc
    return UpstreamRequest("GET", url, dep.auth_headers() if same_host else {})
