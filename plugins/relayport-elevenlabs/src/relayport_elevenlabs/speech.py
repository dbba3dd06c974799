"""ElevenLabs text to speech: `POST /v1/text-to-speech/{voice_id}` (whole) and `/stream` (chunked).

OpenAI's fields map as: `voice` -> the voice id in the path (a deployment's `voices` option
can name ids for OpenAI's voice names), the deployment's model -> `model_id`,
`response_format` -> the `output_format` query parameter, `speed` -> `voice_settings.speed`.
ElevenLabs' own body fields (`voice_settings`, `language_code`, `previous_text`...) pass
through; an ElevenLabs `output_format` (e.g. `mp3_44100_192`) may be given as `response_format`.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from relayport import vendor_errors
from relayport.model import (
    GatewayError,
    MediaKind,
    MediaOutput,
    MediaRequest,
    SubmittedTask,
    TaskStatus,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.provider import Deployment
from relayport.speech_stream import SpeechStream

# OpenAI's formats ElevenLabs makes. OpenAI's `pcm` is 24 kHz 16-bit little-endian, so the
# matching ElevenLabs format, not its 44.1 kHz one (which also needs a higher plan).
FORMATS = {"mp3": ("mp3_44100_128", "audio/mpeg"), "opus": ("opus_48000_128", "audio/ogg"),
           "pcm": ("pcm_24000", "audio/pcm")}
_NATIVE_FORMAT = re.compile(r"(mp3|pcm|ulaw|alaw|opus)_\d+(_\d+)?")
_NATIVE_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "pcm": "audio/pcm", "ulaw": "audio/basic",
                 "alaw": "audio/x-alaw-basic"}
# Body fields ElevenLabs takes as they are.
_BODY = frozenset({"voice_settings", "language_code", "pronunciation_dictionary_locators", "previous_text",
                   "next_text", "previous_request_ids", "next_request_ids", "apply_text_normalization",
                   "apply_language_text_normalization", "use_pvc_as_ivc"})
_QUERY = frozenset({"optimize_streaming_latency", "enable_logging"})


def _format(request: MediaRequest) -> tuple[str, str]:
    fmt = request.response_format or "mp3"
    if fmt in FORMATS:
        return FORMATS[fmt]
    if _NATIVE_FORMAT.fullmatch(fmt):
        return fmt, _NATIVE_TYPES[fmt.split("_", 1)[0]]
    raise GatewayError(400, f"elevenlabs: response_format '{fmt[:32]}' is not made by ElevenLabs; use mp3, opus or "
                            "pcm, or an ElevenLabs output_format such as mp3_44100_192.",
                       param="response_format", code="unsupported_value")


def _request(dep: Deployment, request: MediaRequest, streamed: bool) -> tuple[UpstreamRequest, str]:
    if request.kind is not MediaKind.SPEECH:
        raise GatewayError(400, "elevenlabs serves speech only.", code="unsupported_operation")
    voice = request.voice
    if not voice:
        raise GatewayError(400, "Missing required parameter: 'voice' (an ElevenLabs voice id).", param="voice",
                           code="missing_required_parameter")
    voices = dep.options.get("voices") if dep.options else None
    if isinstance(voices, dict) and isinstance(voices.get(voice), str):
        voice = voices[voice]
    output_format, media_type = _format(request)
    extra = request.extra
    body: dict[str, Any] = {"text": request.prompt, "model_id": dep.model}
    body.update({k: v for k, v in extra.items() if k in _BODY})
    if request.seed is not None:
        body["seed"] = request.seed
    speed = extra.get("speed")
    if isinstance(speed, (int, float)) and not isinstance(speed, bool):
        settings = body.get("voice_settings")
        body["voice_settings"] = {**(settings if isinstance(settings, dict) else {}), "speed": speed}
    adjustments = []
    if extra.get("instructions"):
        adjustments.append("instructions dropped: ElevenLabs takes no voice instructions")
    query = {"output_format": output_format, **{k: str(v).lower() if isinstance(v, bool) else str(v)
                                                 for k, v in extra.items() if k in _QUERY}}
    path = f"/v1/text-to-speech/{quote(voice, safe='')}" + ("/stream" if streamed else "")
    up = UpstreamRequest("POST", dep.url(path) + "?" + urlencode(query),
                         {**dep.auth_headers(), "Content-Type": "application/json"}, orjson.dumps(body),
                         adjustments=adjustments)
    return up, media_type


def stream(dep: Deployment, request: MediaRequest) -> SpeechStream | None:
    if request.kind is not MediaKind.SPEECH:
        return None
    up, media_type = _request(dep, request, streamed=True)
    return SpeechStream(up, media_type=media_type)


def whole(dep: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    if request.kind is not MediaKind.SPEECH:
        return None
    return _request(dep, request, streamed=False)[0]


def parse_whole(request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    _, media_type = _format(request)
    return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=[
        MediaOutput(b64=base64.b64encode(response.body).decode(), media_type=media_type)]))


def map_error(response: UpstreamResponse) -> GatewayError:
    """ElevenLabs answers `{"detail": {"status": "invalid_api_key", "message": "..."}}`, or
    FastAPI's `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}` for a bad body."""
    err = vendor_errors.map_error(response, "elevenlabs")
    try:
        detail = orjson.loads(response.body).get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        return err
    if isinstance(detail, dict):
        err.message = f"elevenlabs: {detail.get('message') or detail.get('status') or 'HTTP ' + str(response.status)}"
        if isinstance(detail.get("status"), str):
            err.code = detail["status"]
    elif isinstance(detail, list) and detail and isinstance(detail[0], dict):
        loc = detail[0].get("loc") or []
        err.param = str(loc[-1]) if loc else None
        err.message = f"elevenlabs: {detail[0].get('msg') or 'invalid request'}" + (f" ({err.param})" if err.param else "")
        err.code = str(detail[0].get("type") or "") or None
    Exception.__init__(err, err.message)
    return err
