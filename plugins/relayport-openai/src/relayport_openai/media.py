"""OpenAI's media APIs: images (generations, edits), Sora videos, speech.

Embeddings need nothing here: the core's OpenAI-compatible default serves them.
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
from relayport.wire import multipart

_VIDEO_STATUS = {"queued": TaskStatus.QUEUED, "in_progress": TaskStatus.RUNNING, "completed": TaskStatus.SUCCEEDED,
                 "failed": TaskStatus.FAILED}
# Fields of the unified form that mean nothing to OpenAI (the gateway's own, or other vendors').
_NOT_OPENAI = frozenset({"operation", "watermark", "fps", "style_preset", "seconds"})


def _json_headers(dep: Deployment) -> dict[str, str]:
    return {**dep.auth_headers(), "Content-Type": "application/json"}


def _extras(request: MediaRequest) -> dict[str, Any]:
    return {k: v for k, v in request.extra.items() if k not in _NOT_OPENAI}


def _speech(dep: Deployment, request: MediaRequest, sse: bool = False) -> UpstreamRequest:
    body: dict[str, Any] = {**_extras(request), "model": dep.model, "input": request.prompt,
                            "voice": request.voice or "alloy"}
    if request.response_format:
        body["response_format"] = request.response_format
    if sse:
        body["stream_format"] = "sse"
    return UpstreamRequest("POST", dep.url("/audio/speech"), _json_headers(dep), orjson.dumps(body))


def speech_stream(dep: Deployment, request: MediaRequest) -> SpeechStream | None:
    """OpenAI streams every speech answer as chunked audio; with `stream_format: "sse"` it sends
    `speech.audio.delta` events and a `speech.audio.done` with the call's token usage, which
    the client then gets as OpenAI sent it. `tts-1` models take no SSE: their audio is streamed
    raw and the gateway makes the events."""
    if request.kind is not MediaKind.SPEECH:
        return None
    if request.stream != "sse" or dep.model.startswith("tts-1"):
        return SpeechStream(_speech(dep, request))
    parser = EncodedAudio(("audio",), "base64", vendor="openai",
                          error=_speech_error, final=lambda e: e.get("type") == "speech.audio.done",
                          usage=_speech_usage)
    return SpeechStream(_speech(dep, request, sse=True), framing="sse", parser=parser)


def _speech_error(event: dict[str, Any]) -> GatewayError | None:
    err = event.get("error")
    if event.get("type") != "error" and not isinstance(err, dict):
        return None
    err = err if isinstance(err, dict) else {}
    return GatewayError(502, str(err.get("message") or "openai: the speech stream failed."),
                        type=str(err.get("type") or "server_error"), code=err.get("code"))


def _speech_usage(event: dict[str, Any]) -> Usage | None:
    u = event.get("usage")
    if event.get("type") != "speech.audio.done" or not isinstance(u, dict):
        return None
    return Usage(input_tokens=int(u.get("input_tokens") or 0), output_tokens=int(u.get("output_tokens") or 0))


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is MediaKind.SPEECH:
        return _speech(dep, request)
    if request.kind is MediaKind.VIDEO:
        return _video(dep, request)
    if request.extra.get("operation") == "edit":
        return _edit(dep, request)
    body = {**_extras(request), "model": dep.model, "prompt": request.prompt}
    for field in ("n", "size", "response_format"):
        if getattr(request, field) is not None:
            body[field] = getattr(request, field)
    return UpstreamRequest("POST", dep.url("/images/generations"), _json_headers(dep), orjson.dumps(body))


def _edit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    fields = {k: str(v) for k, v in _extras(request).items() if k != "mask" and isinstance(v, (str, int, float))}
    fields.update(model=dep.model, prompt=request.prompt or "")
    for field in ("n", "size", "response_format"):
        if getattr(request, field) is not None:
            fields[field] = str(getattr(request, field))
    images = [multipart.decode_data_url(url, "image") for url in request.media.images]
    name = "image[]" if len(images) > 1 else "image"
    files = [(name, data, media_type) for data, media_type in images]
    if isinstance(request.extra.get("mask"), str):
        files.append(("mask", *multipart.decode_data_url(request.extra["mask"], "mask")))
    body, ctype = multipart.encode(fields, files)
    return UpstreamRequest("POST", dep.url("/images/edits"), {**dep.auth_headers(), "Content-Type": ctype}, body)


def _video(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    fields: dict[str, str] = {"model": dep.model, "prompt": request.prompt or ""}
    seconds = request.extra.get("seconds") or (request.duration and f"{request.duration:g}")
    if seconds:
        fields["seconds"] = str(seconds)
    if request.size:
        fields["size"] = request.size
    if request.media.images:
        # Sora takes one first-frame image, as a file part.
        data, media_type = multipart.decode_data_url(request.media.images[0], "input_reference")
        body, ctype = multipart.encode(fields, [("input_reference", data, media_type)])
        return UpstreamRequest("POST", dep.url("/videos"), {**dep.auth_headers(), "Content-Type": ctype}, body)
    return UpstreamRequest("POST", dep.url("/videos"), _json_headers(dep), orjson.dumps(fields))


def load_object(response: UpstreamResponse) -> dict[str, Any]:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "openai: the answer is not JSON.", code="bad_upstream_response") from None
    if not isinstance(obj, dict):
        raise GatewayError(502, "openai: the answer is not a JSON object.", code="bad_upstream_response")
    return obj


def parse_submit(dep: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    if request.kind is MediaKind.SPEECH:
        media_type = response.headers.get("Content-Type", "audio/mpeg").split(";")[0]
        return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=[
            MediaOutput(b64=base64.b64encode(response.body).decode(), media_type=media_type)]))
    obj = load_object(response)
    if request.kind is MediaKind.VIDEO:
        return SubmittedTask(str(obj["id"]), video_update(obj))
    outputs = [MediaOutput(url=d.get("url"), b64=d.get("b64_json"), media_type="image/png",
                           extra={"revised_prompt": d["revised_prompt"]} if d.get("revised_prompt") else {})
               for d in obj.get("data") or []]
    u = obj.get("usage") or {}
    usage = Usage(input_tokens=int(u.get("input_tokens") or 0), output_tokens=int(u.get("output_tokens") or 0)) \
        if u else None
    return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=outputs, usage=usage))


def video_update(obj: dict[str, Any]) -> TaskUpdate:
    status = _VIDEO_STATUS.get(str(obj.get("status")), TaskStatus.RUNNING)
    progress = obj.get("progress")
    err = obj.get("error") or None
    # The video's length as OpenAI bills it (`seconds`, a string such as "8"): the usage meter
    # prices it at the model's `video_second`.
    seconds = obj.get("seconds")
    usage = Usage(extra={"video_seconds": float(seconds)}) \
        if status is TaskStatus.SUCCEEDED and isinstance(seconds, (str, int, float)) \
        and str(seconds).replace(".", "", 1).isdigit() else None
    return TaskUpdate(
        status,
        usage=usage,
        progress=progress / 100 if isinstance(progress, (int, float)) else None,
        # No URL: the bytes come from /videos/{id}/content, with the key (content_request).
        outputs=[MediaOutput(media_type="video/mp4")] if status is TaskStatus.SUCCEEDED else [],
        error=GatewayError(422, str(err.get("message") or "The video failed."), code=err.get("code"))
        if isinstance(err, dict) else None,
    )


def poll(dep: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    if task.request.kind is not MediaKind.VIDEO:
        return None
    return UpstreamRequest("GET", dep.url(f"/videos/{task.vendor_task_id}"), dep.auth_headers())


def parse_poll(dep: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return video_update(load_object(response))


def content(dep: Deployment, task: TaskRecord, index: int) -> UpstreamRequest | None:
    if task.request.kind is not MediaKind.VIDEO or index != 0:
        return None
    return UpstreamRequest("GET", dep.url(f"/videos/{task.vendor_task_id}/content"), dep.auth_headers())
