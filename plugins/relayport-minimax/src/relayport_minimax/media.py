"""MiniMax's media APIs: Hailuo video tasks, image-01 and t2a_v2 speech.

Video is three calls: `POST /v1/video_generation` -> `task_id`; `GET /v1/query/video_generation`
until `status` is `Success` (Preparing, Queueing, Processing before it; `Fail` ends it), which
carries a `file_id`; then `GET /v1/files/retrieve?file_id=` for the `download_url`, whose
lifetime MiniMax does not document: the core copies the video into its result store at once.
The task stays `running` between the last two (`vendor_state["file_id"]` says which to ask).

Images and speech answer at once. Speech comes back as **hex** (`data.audio`), not base64.
Every answer, errors too, carries `base_resp`; a non-zero `status_code` is an error whatever
the HTTP status (`errors.py` maps the codes).
"""

from __future__ import annotations

import base64
from typing import Any

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
    Usage,
)
from relayport.provider import Deployment
from relayport.speech_stream import EncodedAudio, SpeechStream
from relayport_minimax.errors import business_error, check_body, vendor_code
from relayport_minimax.request import v1_url

_STATUS = {"Preparing": TaskStatus.QUEUED, "Queueing": TaskStatus.QUEUED, "Processing": TaskStatus.RUNNING}
# Fields of the unified form that are the gateway's own, or mean nothing to MiniMax.
_NOT_MINIMAX = frozenset({"operation", "seconds", "fps", "watermark", "style", "mask", "voice_setting",
                          "audio_setting", "speed", "quality", "output_format", "user", "stream_format"})
_AUDIO_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm"}
_OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                            "shimmer", "verse", "marin", "cedar"})
DEFAULT_VOICE = "male-qn-qingse"


def _headers(dep: Deployment) -> dict[str, str]:
    return {**dep.auth_headers(), "Content-Type": "application/json"}


def _extras(request: MediaRequest) -> dict[str, Any]:
    return {k: v for k, v in request.extra.items() if k not in _NOT_MINIMAX}


def _roles(request: MediaRequest) -> list[str]:
    roles = request.media.roles.get("images")
    return [str(r) for r in roles] if isinstance(roles, list) else []


# ------------------------------------------------------------------ requests


def _video(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    body: dict[str, Any] = {**_extras(request), "model": dep.model, "prompt": request.prompt or ""}
    adjustments: list[str] = []
    if request.duration is not None:
        # Hailuo renders 6 s or 10 s clips.
        body["duration"] = 10 if request.duration > 8 else 6
        if body["duration"] != request.duration:
            adjustments.append(f"duration {request.duration:g} rounded to {body['duration']}")
    if request.resolution:
        body["resolution"] = request.resolution.strip().upper()
    if isinstance(request.extra.get("watermark"), bool):
        body["aigc_watermark"] = request.extra["watermark"]
    roles = _roles(request)
    subject = dep.model.upper().startswith("S2V")
    references = []
    for i, url in enumerate(request.media.images):
        role = roles[i] if i < len(roles) else ("reference" if subject else
                                                  "first_frame" if i == 0 else "last_frame")
        if role == "first_frame" and "first_frame_image" not in body:
            body["first_frame_image"] = url
        elif role == "last_frame" and "last_frame_image" not in body:
            body["last_frame_image"] = url
        else:
            references.append(url)
    if references:
        body["subject_reference"] = [{"type": "character", "image": references}]
    if request.media.videos or request.media.voices:
        adjustments.append("videos and voices dropped: Hailuo takes images only")
    return UpstreamRequest("POST", v1_url(dep, "/video_generation"), _headers(dep), orjson.dumps(body),
                           adjustments=adjustments)


def _image(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    body: dict[str, Any] = {**_extras(request), "model": dep.model, "prompt": request.prompt or ""}
    if request.n is not None:
        body["n"] = request.n
    if request.seed is not None:
        body["seed"] = request.seed
    if request.aspect_ratio:
        body["aspect_ratio"] = request.aspect_ratio
    if request.size:
        w, sep, h = request.size.lower().replace("*", "x").partition("x")
        if sep and w.isdigit() and h.isdigit():
            body.update(width=int(w), height=int(h))
        elif ":" in request.size:  # the seed lets `size` carry a ratio too ("16:9")
            body["aspect_ratio"] = request.size
        else:
            raise GatewayError(400, f"Invalid value for 'size': {request.size!r}; use WxH or a ratio such as 16:9.",
                               param="size", code="invalid_value")
    body["response_format"] = "base64" if request.response_format in ("b64_json", "base64") else "url"
    if request.media.images:
        body["subject_reference"] = [{"type": "character", "image_file": url} for url in request.media.images]
    return UpstreamRequest("POST", v1_url(dep, "/image_generation"), _headers(dep), orjson.dumps(body))


def _speech(dep: Deployment, request: MediaRequest, streamed: bool = False) -> UpstreamRequest:
    adjustments: list[str] = []
    voice = request.voice or DEFAULT_VOICE
    if voice in _OPENAI_VOICES:
        adjustments.append(f"voice {voice} is not a MiniMax voice: {DEFAULT_VOICE} used")
        voice = DEFAULT_VOICE
    voice_setting: dict[str, Any] = {"voice_id": voice}
    speed = request.extra.get("speed")
    if isinstance(speed, (int, float)) and not isinstance(speed, bool):
        voice_setting["speed"] = min(2.0, max(0.5, float(speed)))
    # The seed's full `voice_setting` wins over `voice_id`.
    if isinstance(request.extra.get("voice_setting"), dict):
        voice_setting.update(request.extra["voice_setting"])
    fmt = request.response_format or "mp3"
    if fmt not in _AUDIO_TYPES:
        adjustments.append(f"response_format {fmt} not offered: mp3")
        fmt = "mp3"
    audio_setting: dict[str, Any] = {"format": fmt}
    if isinstance(request.extra.get("audio_setting"), dict):
        audio_setting.update(request.extra["audio_setting"])
    body = {**_extras(request), "model": dep.model, "text": request.prompt or "", "stream": streamed,
            "output_format": "hex", "voice_setting": voice_setting, "audio_setting": audio_setting}
    return UpstreamRequest("POST", v1_url(dep, "/t2a_v2"), _headers(dep), orjson.dumps(body),
                           adjustments=adjustments)


def speech_stream(dep: Deployment, request: MediaRequest) -> SpeechStream | None:
    """t2a_v2 with `stream: true`: SSE events whose `data.audio` is a hex chunk (`status` 1), then
    a closing event (`status` 2) repeating the whole audio with `extra_info`, which is not sent
    again. MiniMax streams no wav: a wav call is answered whole."""
    if request.kind is not MediaKind.SPEECH or request.response_format == "wav":
        return None
    fmt = request.response_format if request.response_format in _AUDIO_TYPES else "mp3"
    parser = EncodedAudio(("data", "audio"), "hex", vendor="minimax", error=_stream_error,
                          final=_last, skip=_last, usage=_stream_usage)
    return SpeechStream(_speech(dep, request, streamed=True), framing="sse", parser=parser,
                        media_type=_AUDIO_TYPES[fmt])


def _last(event: dict[str, Any]) -> bool:
    return (event.get("data") or {}).get("status") == 2


def _stream_error(event: dict[str, Any]) -> GatewayError | None:
    code, message = vendor_code(event)
    return business_error(code, message, where=" speech stream") if code is not None else None


def _stream_usage(event: dict[str, Any]) -> Usage | None:
    characters = (event.get("extra_info") or {}).get("usage_characters")
    return Usage(extra={"characters": characters}) if isinstance(characters, int) else None


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is MediaKind.VIDEO:
        return _video(dep, request)
    if request.kind is MediaKind.IMAGE:
        return _image(dep, request)
    return _speech(dep, request)


# ------------------------------------------------------------------ answers


def load(response: UpstreamResponse) -> dict[str, Any]:
    """The answer, or the error its `base_resp` reports (sent with HTTP 200)."""
    obj = response.json_object("minimax")
    check_body(obj)
    return obj


def parse_submit(dep: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    obj = load(response)
    if request.kind is MediaKind.VIDEO:
        if not obj.get("task_id"):
            raise GatewayError(502, "minimax: the submit answer has no task_id.", code="bad_upstream_response")
        return SubmittedTask(str(obj["task_id"]))
    data = obj.get("data") or {}
    if request.kind is MediaKind.SPEECH:
        return SubmittedTask(None, _speech_result(request, obj, data))
    urls, b64s = data.get("image_urls") or [], data.get("image_base64") or []
    outputs = [MediaOutput(url=u, media_type="image/jpeg") for u in urls]
    outputs += [MediaOutput(b64=b, media_type="image/jpeg") for b in b64s]
    if not outputs:
        raise GatewayError(502, "minimax: no image was made "
                                f"({(obj.get('metadata') or {}).get('failed_count', 0)} failed).",
                           code="bad_upstream_response")
    # Seed 003 documents the URLs as `data.image_url`; MiniMax sends `image_urls`: both are kept.
    native = {**obj, "data": {**data, "image_url": urls}} if urls else obj
    return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=outputs, native=native,
                                          usage=Usage(extra={"image_count": len(outputs)})))


def _speech_result(request: MediaRequest, obj: dict[str, Any], data: dict[str, Any]) -> TaskUpdate:
    hex_audio = data.get("audio")
    try:
        audio = bytes.fromhex(hex_audio) if isinstance(hex_audio, str) else b""
    except ValueError:
        audio = b""
    if not audio:
        raise GatewayError(502, "minimax: the speech answer has no hex audio.", code="bad_upstream_response")
    info = obj.get("extra_info") or {}
    fmt = str(info.get("audio_format") or (request.response_format if request.response_format in _AUDIO_TYPES
                                            else "mp3"))
    characters = info.get("usage_characters")
    usage = Usage(extra={"characters": characters}) if isinstance(characters, int) else None
    # Seed 003 shows the answer with `usage.characters` beside MiniMax's own `extra_info`.
    native = {**obj, "usage": {"characters": characters}} if usage is not None else obj
    return TaskUpdate(TaskStatus.SUCCEEDED, usage=usage, native=native, outputs=[
        MediaOutput(b64=base64.b64encode(audio).decode(), media_type=_AUDIO_TYPES.get(fmt, "audio/mpeg"))])


def poll(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    file_id = task.vendor_state.get("file_id")
    if file_id:
        return UpstreamRequest("GET", v1_url(dep, f"/files/retrieve?file_id={file_id}"), dep.auth_headers())
    return UpstreamRequest("GET", v1_url(dep, f"/query/video_generation?task_id={task.vendor_task_id}"),
                           dep.auth_headers())


def parse_poll(dep: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    if task.vendor_state.get("file_id"):
        obj = load(response)
        url = (obj.get("file") or {}).get("download_url")
        if not isinstance(url, str) or not url:
            raise GatewayError(502, "minimax: the file has no download_url.", code="bad_upstream_response")
        # The query answer (status, file_id, size) and the file joined: both are MiniMax's own words.
        query = task.native if isinstance(task.native, dict) else {}
        return TaskUpdate(TaskStatus.SUCCEEDED, progress=1.0, native={**query, "file": obj["file"]},
                          outputs=[MediaOutput(url=url, media_type="video/mp4")])
    obj = response.json_object("minimax")
    status = obj.get("status")
    if status == "Fail":
        code, message = vendor_code(obj)
        error = business_error(code, message) if code is not None else GatewayError(
            422, "minimax: the video could not be made.", code="minimax_task_failed")
        return TaskUpdate(TaskStatus.FAILED, error=error)
    check_body(obj)  # a rate limit or a key problem: the poll is retried later
    if status == "Success":
        file_id = obj.get("file_id")
        if not file_id:
            raise GatewayError(502, "minimax: a Success without file_id.", code="bad_upstream_response")
        # One more call finds the download URL: poll again at once.
        return TaskUpdate(TaskStatus.RUNNING, progress=0.99, vendor_state={"file_id": str(file_id)}, poll_after=0.0)
    # Words MiniMax may add later count as "still working" rather than failing a paid task.
    return TaskUpdate(_STATUS.get(str(status), TaskStatus.RUNNING))
