"""DashScope's media APIs: Wan video and images as `X-DashScope-Async` tasks, qwen-image and
qwen-tts as synchronous multimodal calls.

Tasks are polled on `GET /api/v1/tasks/{id}` (statuses PENDING, RUNNING, SUCCEEDED, FAILED,
CANCELED, UNKNOWN: a task DashScope no longer knows, its ids living 24 h) and cancelled with
`POST /api/v1/tasks/{id}/cancel`, which DashScope allows only while a task is PENDING. Result
URLs expire after 24 h, so the core copies them into its result store.

Wan video speaks two request protocols: up to wan2.6, media go in named input fields (`img_url`,
`first_frame_url`/`last_frame_url` on the image2video endpoint, `audio_url`,
`reference_video_urls`) and text-to-video takes `size` as `W*H`; from wan2.7 on, every medium is
an item of `input.media` (`{type, url}`: first_frame, last_frame, driving_audio, first_clip,
reference_image, reference_video) and the output is a `resolution` tier plus a `ratio`.
"""

from __future__ import annotations

import re
from functools import lru_cache
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
from relayport.speech_stream import EncodedAudio, SpeechStream
from relayport.wire.media import size_of
from relayport_dashscope.errors import error_from_event
from relayport_dashscope.hosts import native_url

VIDEO_PATH = "/services/aigc/video-generation/video-synthesis"
KEYFRAME_PATH = "/services/aigc/image2video/video-synthesis"
TEXT2IMAGE_PATH = "/services/aigc/text2image/image-synthesis"
IMAGE2IMAGE_PATH = "/services/aigc/image2image/image-synthesis"
MULTIMODAL_PATH = "/services/aigc/multimodal-generation/generation"

_STATUS = {"PENDING": TaskStatus.QUEUED, "RUNNING": TaskStatus.RUNNING, "SUCCEEDED": TaskStatus.SUCCEEDED,
           "FAILED": TaskStatus.FAILED, "CANCELED": TaskStatus.CANCELLED}
# Fields of the unified form that are the gateway's own, or mean nothing to DashScope.
_NOT_DASHSCOPE = frozenset({"operation", "seconds", "fps", "mask", "quality", "background", "output_format",
                            "speed", "stream_format", "user"})
# Extras that belong in `input` rather than `parameters`.
_INPUT_FIELDS = frozenset({"template", "img_url", "first_frame_url", "last_frame_url", "audio_url",
                           "reference_video_urls", "media", "function", "base_image_url", "mask_image_url",
                           "language_type", "instructions", "optimize_instructions"})
_VERSION = re.compile(r"wanx?(\d+)\.(\d+)")
_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
# OpenAI voice names -> Qwen-TTS voices (a DashScope voice name passes as it is).
VOICES = {"alloy": "Cherry", "ash": "Ethan", "ballad": "Ethan", "coral": "Serena", "echo": "Ethan",
          "fable": "Serena", "nova": "Chelsie", "onyx": "Ethan", "sage": "Cherry", "shimmer": "Serena",
          "verse": "Ethan", "marin": "Cherry", "cedar": "Ethan"}
# Legacy text-to-video sizes for a resolution tier, by ratio.
_SIZES = {"480P": {"16:9": "832*480", "9:16": "480*832", "1:1": "624*624"},
          "720P": {"16:9": "1280*720", "9:16": "720*1280", "1:1": "960*960", "4:3": "1088*832", "3:4": "832*1088"},
          "1080P": {"16:9": "1920*1080", "9:16": "1080*1920", "1:1": "1440*1440", "4:3": "1632*1248",
                    "3:4": "1248*1632"}}


# ------------------------------------------------------------------ model families


@lru_cache(maxsize=256)
def media_list_protocol(model: str) -> bool:
    """Whether a Wan video model takes `input.media` (wan2.7 and later, and unversioned names)."""
    found = _VERSION.search(model.lower())
    return found is None or (int(found.group(1)), int(found.group(2))) >= (2, 7)


def video_family(model: str, request: MediaRequest) -> str:
    name = model.lower()
    for family in ("kf2v", "r2v", "i2v", "t2v"):
        if family in name:
            return family
    return "i2v" if request.media.images or request.media.videos else "t2v"


def image_family(model: str) -> str:
    """'multimodal' (qwen-image, wan2.6+ image: synchronous), 't2i' or 'i2i' (Wan tasks)."""
    name = model.lower()
    if "imageedit" in name or "i2i" in name:
        return "i2i"
    if "t2i" in name or name.startswith("wanx-v"):  # wanx-v1: the first Wan text-to-image model
        return "t2i"
    return "multimodal"


# ------------------------------------------------------------------ helpers


def _headers(dep: Deployment, task: bool) -> dict[str, str]:
    headers = {**dep.auth_headers(), "Content-Type": "application/json"}
    if task:
        headers["X-DashScope-Async"] = "enable"
    return headers


def _split_extras(request: MediaRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for key, value in request.extra.items():
        if key in _NOT_DASHSCOPE:
            continue
        (inputs if key in _INPUT_FIELDS else params)[key] = value
    return inputs, params


def _star(size: str) -> str:
    """`1280x720` as DashScope spells it, `1280*720`; tiers such as `2K` pass as they are."""
    dims = size_of(size)
    return f"{dims[0]}*{dims[1]}" if dims else size


def _tier(resolution: str) -> str:
    return resolution.strip().upper()


def _roles(request: MediaRequest, kind: str) -> list[str]:
    roles = request.media.roles.get(kind)
    return [str(r) for r in roles] if isinstance(roles, list) else []


def _role(roles: list[str], index: int, default: str) -> str:
    return roles[index] if index < len(roles) and roles[index] else default


def _request(dep: Deployment, path: str, body: dict[str, Any], task: bool,
             adjustments: list[str]) -> UpstreamRequest:
    return UpstreamRequest("POST", native_url(dep, path), _headers(dep, task), orjson.dumps(body),
                           adjustments=adjustments)


# ------------------------------------------------------------------ video


def _video(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    family = video_family(dep.model, request)
    extra_in, params = _split_extras(request)
    inputs: dict[str, Any] = {"prompt": request.prompt or ""} if request.prompt else {}
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    adjustments: list[str] = []
    if request.duration is not None:
        params["duration"] = round(request.duration)
        if params["duration"] != request.duration:
            adjustments.append(f"duration {request.duration:g} rounded to {params['duration']}")
    if request.seed is not None:
        params["seed"] = request.seed
    images, videos, voices = request.media.images, request.media.videos, request.media.voices
    path = VIDEO_PATH
    if media_list_protocol(dep.model):
        _output_tier(request, params, adjustments)
        media = _media_items(family, request, adjustments)
        if media:
            inputs["media"] = media
        if family == "t2v" and voices:
            inputs["audio_url"] = voices[0]
    else:
        if family == "kf2v":
            path = KEYFRAME_PATH
            first, last = _frames(request)
            if first:
                inputs["first_frame_url"] = first
            if last:
                inputs["last_frame_url"] = last
        elif family == "i2v" and images:
            inputs["img_url"] = images[0]
        elif family == "r2v":
            inputs["reference_video_urls"] = videos or images
        if voices and family in ("t2v", "i2v"):
            inputs["audio_url"] = voices[0]
        if family in ("t2v", "r2v"):
            size = _legacy_size(request)
            if size:
                params["size"] = size
        elif request.resolution:
            params["resolution"] = _tier(request.resolution)
        if family == "t2v" and (images or videos):
            adjustments.append("images and videos dropped: text-to-video takes none")
    inputs.update(extra_in)
    body: dict[str, Any] = {"model": dep.model, "input": inputs}
    if params:
        body["parameters"] = params
    return _request(dep, path, body, True, adjustments)


def _frames(request: MediaRequest) -> tuple[str | None, str | None]:
    roles = _roles(request, "images")
    first = last = None
    for i, url in enumerate(request.media.images):
        if _role(roles, i, "first_frame" if i == 0 else "last_frame") == "last_frame":
            last = url
        elif first is None:
            first = url
    return first, last


def _output_tier(request: MediaRequest, params: dict[str, Any], adjustments: list[str]) -> None:
    """wan2.7+: a `resolution` tier and a `ratio`; a `W x H` size is turned into both."""
    if request.resolution:
        params["resolution"] = _tier(request.resolution)
    ratio = request.aspect_ratio
    dims = parse_size(request.size)
    if dims is not None:
        short = min(dims)
        params.setdefault("resolution", "480P" if short <= 480 else "720P" if short <= 720 else "1080P")
        ratio = ratio or aspect_ratio(*dims)
        adjustments.append(f"size {request.size} sent as resolution {params['resolution']} and ratio {ratio}")
    if ratio:
        params["ratio"] = ratio


def _legacy_size(request: MediaRequest) -> str | None:
    if request.size:
        return _star(request.size)
    if request.resolution:
        return _SIZES.get(_tier(request.resolution), {}).get(request.aspect_ratio or "16:9")
    return None


def _media_items(family: str, request: MediaRequest, adjustments: list[str]) -> list[dict[str, Any]]:
    images, videos, voices = request.media.images, request.media.videos, request.media.voices
    items: list[dict[str, Any]] = []
    if family in ("i2v", "kf2v"):
        roles = _roles(request, "images")
        for i, url in enumerate(images):
            items.append({"type": _role(roles, i, "first_frame" if i == 0 else "last_frame"), "url": url})
        video_roles = _roles(request, "videos")
        items += [{"type": _role(video_roles, i, "first_clip"), "url": url} for i, url in enumerate(videos[:1])]
        voice_roles = _roles(request, "voices")
        items += [{"type": _role(voice_roles, i, "driving_audio"), "url": url} for i, url in enumerate(voices[:1])]
        if len(videos) > 1 or len(voices) > 1:
            adjustments.append("only the first video and the first voice are used")
    elif family == "r2v":
        roles = _roles(request, "images")
        items += [{"type": _role(roles, i, "reference_image"), "url": url} for i, url in enumerate(images)]
        items += [{"type": "reference_video", "url": url} for url in videos]
        # A voice gives a reference its timbre: voices[i] goes with the i-th reference, in order.
        refs = [item for item in items if item["type"].startswith("reference_")]
        for ref, voice in zip(refs, voices, strict=False):
            ref["reference_voice"] = voice
        if len(voices) > len(refs):
            adjustments.append(f"{len(voices) - len(refs)} voice(s) without a reference dropped")
    return items


# ------------------------------------------------------------------ images


def _image(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    family = image_family(dep.model)
    extra_in, params = _split_extras(request)
    adjustments: list[str] = []
    if request.size:
        params["size"] = _star(request.size)
    if request.n is not None:
        params["n"] = request.n
    if request.seed is not None:
        params["seed"] = request.seed
    if family == "multimodal":
        content: list[dict[str, Any]] = [{"image": url} for url in request.media.images]
        content.append({"text": request.prompt or ""})
        if request.negative_prompt:
            params["negative_prompt"] = request.negative_prompt
        body: dict[str, Any] = {"model": dep.model,
                                "input": {"messages": [{"role": "user", "content": content}], **extra_in}}
        if params:
            body["parameters"] = params
        return _request(dep, MULTIMODAL_PATH, body, False, adjustments)
    inputs: dict[str, Any] = {"prompt": request.prompt or ""}
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    path = TEXT2IMAGE_PATH
    if family == "i2i":
        path = IMAGE2IMAGE_PATH
        if not request.media.images:
            raise GatewayError(400, f"dashscope: '{request.model}' edits an image; send one in 'images' "
                                    "(or use /v1/images/edits).", param="images", code="missing_required_parameter")
        if "imageedit" in dep.model:
            inputs["base_image_url"] = request.media.images[0]
            inputs.setdefault("function", "description_edit")
            if isinstance(request.extra.get("mask"), str):
                inputs["mask_image_url"] = request.extra["mask"]
        else:
            inputs["images"] = list(request.media.images)
    elif request.media.images:
        adjustments.append("images dropped: text-to-image takes none")
    inputs.update(extra_in)
    body = {"model": dep.model, "input": inputs}
    if params:
        body["parameters"] = params
    return _request(dep, path, body, True, adjustments)


# ------------------------------------------------------------------ speech


def _speech(dep: Deployment, request: MediaRequest, streamed: bool = False) -> UpstreamRequest:
    extra_in, _ = _split_extras(request)
    adjustments: list[str] = []
    voice = request.voice or "Cherry"
    if voice in VOICES:
        adjustments.append(f"voice {voice} sent as {VOICES[voice]}")
        voice = VOICES[voice]
    if request.response_format not in (None, "wav", "pcm" if streamed else "wav"):
        adjustments.append(f"response_format {request.response_format} not offered: wav")
    if "speed" in request.extra:
        adjustments.append("speed ignored")
    inputs = {"text": request.prompt or "", "voice": voice, **extra_in}
    up = _request(dep, MULTIMODAL_PATH, {"model": dep.model, "input": inputs}, False, adjustments)
    if streamed:
        up.headers["X-DashScope-SSE"] = "enable"
    return up


def speech_stream(dep: Deployment, request: MediaRequest) -> SpeechStream | None:
    """qwen-tts streams only PCM (24 kHz, 16-bit mono: what OpenAI's `pcm` is): SSE events with a
    base64 chunk in `output.audio.data`, the last one with `finish_reason` "stop" (and the whole
    audio's URL, not fetched again). Other formats are answered whole, as a WAV file."""
    if request.kind is not MediaKind.SPEECH or request.response_format != "pcm":
        return None
    parser = EncodedAudio(("output", "audio", "data"), "base64", vendor="dashscope", error=_stream_error,
                          final=lambda e: (e.get("output") or {}).get("finish_reason") == "stop",
                          usage=_usage)
    return SpeechStream(_speech(dep, request, streamed=True), framing="sse", parser=parser,
                        media_type="audio/pcm")


def _stream_error(event: dict[str, Any]) -> GatewayError | None:
    # Errors in a stream come as `event:error` with `{code, message, request_id}`.
    return error_from_event(event) if event.get("code") and not event.get("output") else None


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is MediaKind.VIDEO:
        return _video(dep, request)
    if request.kind is MediaKind.IMAGE:
        return _image(dep, request)
    return _speech(dep, request)


# ------------------------------------------------------------------ answers


def load(response: UpstreamResponse) -> dict[str, Any]:
    obj = response.json_object("dashscope")
    if obj.get("code") and not obj.get("output"):
        raise error_from_event(obj)
    return obj


def _usage(obj: dict[str, Any]) -> Usage | None:
    u = obj.get("usage")
    if not isinstance(u, dict) or not u:
        return None
    return Usage(input_tokens=int(u.get("input_tokens") or 0), output_tokens=int(u.get("output_tokens") or 0),
                 extra={k: v for k, v in u.items() if k not in ("input_tokens", "output_tokens", "total_tokens")})


def parse_submit(dep: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    obj = load(response)
    output = obj.get("output") or {}
    if "task_id" in output:
        return SubmittedTask(str(output["task_id"]), _update(obj))
    if request.kind is MediaKind.SPEECH:
        audio = output.get("audio") or {}
        if not isinstance(audio.get("url"), str):
            raise GatewayError(502, "dashscope: the speech answer has no audio URL.", code="bad_upstream_response")
        # `status_code` as DashScope's SDKs report it: seed 003's clients read it.
        native = {"status_code": response.status, **obj}
        return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=[
            MediaOutput(url=audio["url"], media_type="audio/wav")], usage=_usage(obj), native=native))
    images = [part["image"] for choice in output.get("choices") or ()
              for part in (choice.get("message") or {}).get("content") or ()
              if isinstance(part, dict) and isinstance(part.get("image"), str)]
    if not images:
        raise GatewayError(502, "dashscope: the image answer has no image.", code="bad_upstream_response")
    return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=[
        MediaOutput(url=url, media_type="image/png") for url in images], usage=_usage(obj)))


def poll(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("GET", native_url(dep, f"/tasks/{task.vendor_task_id}"), dep.auth_headers())


def cancel(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    if task.status is not TaskStatus.QUEUED:
        raise GatewayError(409, f"dashscope cancels only tasks still waiting (PENDING); this one is "
                                f"{task.status.value} and runs on.", code="task_not_cancellable")
    return UpstreamRequest("POST", native_url(dep, f"/tasks/{task.vendor_task_id}/cancel"), dep.auth_headers())


def parse_poll(dep: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return _update(load(response))


def _update(obj: dict[str, Any]) -> TaskUpdate:
    output = obj.get("output") or {}
    word = str(output.get("task_status") or "PENDING")
    if word == "UNKNOWN":
        return TaskUpdate(TaskStatus.FAILED, error=GatewayError(
            410, "dashscope no longer knows this task (its task ids live 24 hours).", code="task_expired"))
    status = _STATUS.get(word)
    if status is None:
        raise GatewayError(502, f"dashscope: unknown task status {word!r}.", code="bad_upstream_response")
    outputs: list[MediaOutput] = []
    error = None
    if status is TaskStatus.SUCCEEDED:
        if isinstance(output.get("video_url"), str):
            outputs.append(MediaOutput(url=output["video_url"], media_type="video/mp4"))
        for result in output.get("results") or ():
            if isinstance(result, dict) and isinstance(result.get("url"), str):
                extra = {"revised_prompt": result["actual_prompt"]} if result.get("actual_prompt") else {}
                outputs.append(MediaOutput(url=result["url"], media_type="image/png", extra=extra))
        if not outputs:  # every image of a multi-image task failed
            status = TaskStatus.FAILED
            first = next((r for r in output.get("results") or () if isinstance(r, dict) and r.get("code")), {})
            error = GatewayError(422, f"dashscope: {first.get('message') or 'no result was made'}",
                                 code=first.get("code") or "dashscope_task_failed")
    elif status is TaskStatus.FAILED:
        err = error_from_event({"code": output.get("code"), "message": output.get("message")}, 422)
        err.code = err.code or "dashscope_task_failed"
        error = err
    return TaskUpdate(status, outputs=outputs, error=error, usage=_usage(obj))
