"""`POST /v1/audio/speech`: OpenAI's speech call, streamed where the vendor streams.

A plugin that implements `relayport_speech_stream` gets its audio to the client as it
arrives: raw bytes with the audio's content type, or OpenAI's `speech.audio.delta` /
`speech.audio.done` events for `stream_format: "sse"`. Other vendors run as a synchronous
task and are answered whole (in seed 003's JSON for calls in that form). A vendor error
before the first audio is an error answer in OpenAI's envelope; a failure after it ends the
body early (raw: the connection closes without the final chunk, so the client sees a cut
body rather than a shorter file) or with an `error` event (SSE).
"""

from __future__ import annotations

import base64
import contextlib
import logging
from typing import Any

import orjson
from aiohttp import web

from relayport.model.errors import GatewayError
from relayport.model.http import adjustment_headers
from relayport.model.media import MediaKind, MediaRequest, TaskRecord
from relayport.model.usage import Usage
from relayport.provider import Deployment
from relayport.server.json_body import read_json_object
from relayport.server.keys import GATEWAY, ROUTER, TASK_RUNNER
from relayport.speech_stream import AudioStream, open_stream
from relayport.tasks.metering import speech_units
from relayport.wire import media

log = logging.getLogger("relayport.speech")

AUDIO_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
               "wav": "audio/wav", "pcm": "audio/pcm"}


def _delta(audio: bytes) -> bytes:
    return b'data: {"type":"speech.audio.delta","audio":"' + base64.b64encode(audio) + b'"}\n\n'


def _done(usage: Usage | None) -> bytes:
    # OpenAI's done event requires usage; a vendor that reports none is counted as zero.
    u = usage or Usage()
    return b"data: " + orjson.dumps({"type": "speech.audio.done", "usage": {
        "input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens}}) + b"\n\n"


def _error_event(err: GatewayError) -> bytes:
    return b"data: " + orjson.dumps({"type": "error", **err.envelope()}) + b"\n\n"


def _media_type(req: MediaRequest, vendor_type: str | None) -> str:
    return vendor_type or AUDIO_TYPES.get(req.response_format or "mp3", "application/octet-stream")


async def speech(request: web.Request) -> web.StreamResponse:
    # Imported here: media_routes imports this module for its route table.
    from relayport.server.media_routes import json_response, origin_of, owner_of, wait_final

    body = await read_json_object(request)
    req = media.decode(body, MediaKind.SPEECH)
    app = request.app
    gateway, runner = app[GATEWAY], app[TASK_RUNNER]
    seed = media.seed_form(body)
    owner, origin = owner_of(request), origin_of(request)

    async def attempt(dep: Deployment) -> AudioStream | TaskRecord:
        # Seed 003's form is answered with the vendor's JSON: never streamed.
        plan = None if seed else dep.hooks.relayport_speech_stream(deployment=dep, request=req)
        if plan is None:
            task: TaskRecord = await runner.submit(dep, req, owner=owner, origin=origin, keep_sync=False)
            return task
        return await open_stream(gateway, dep, plan, units=speech_units(req, None))

    result = await gateway.call(app[ROUTER].resolve(req.model), attempt)
    if isinstance(result, AudioStream):
        return await _stream_out(request, req, result)
    task = await wait_final(request, result)
    if seed and task.native is not None:
        return json_response(task.native)
    audio, media_type = await _whole_audio(request, task, req)
    headers = adjustment_headers(task.adjustments)
    if req.stream == "sse":
        return web.Response(body=_delta(audio) + _done(task.usage), content_type="text/event-stream",
                            headers=headers)
    return web.Response(body=audio, content_type=media_type.split(";")[0], headers=headers)


async def _whole_audio(request: web.Request, task: TaskRecord, req: MediaRequest) -> tuple[bytes, str]:
    if not task.outputs:
        raise GatewayError(502, "The vendor returned no audio.", code="no_content")
    out = task.outputs[0]
    if out.b64 is not None:
        return base64.b64decode(out.b64), _media_type(req, out.media_type)
    runner = request.app[TASK_RUNNER]
    chunks = [c async for c in runner.output_chunks(runner.deployment(task), task, 0, out)]
    return b"".join(chunks), _media_type(req, out.media_type)


async def _stream_out(request: web.Request, req: MediaRequest, stream: AudioStream) -> web.StreamResponse:
    sse = req.stream == "sse"
    headers: dict[str, Any] = {**stream.headers, "Cache-Control": "no-cache",
                               "Content-Type": "text/event-stream" if sse else _media_type(req, stream.media_type)}
    resp = web.StreamResponse(headers=headers)
    try:
        await resp.prepare(request)
        await resp.write(_delta(stream.first) if sse else stream.first)
        async with contextlib.aclosing(stream.chunks()) as chunks:
            async for chunk in chunks:
                await resp.write(_delta(chunk) if sse else chunk)
    finally:
        await stream.close()  # the client went away: stop the vendor too
    err = stream.error
    if err is not None:
        log.warning("speech stream from %s failed after its first audio: %s", stream.deployment, err)
        if not sse:
            # No final chunk: the client's HTTP library reports an incomplete body instead
            # of handing over a silently truncated file.
            if request.transport is not None:
                request.transport.close()
            return resp
        await resp.write(_error_event(err))
    elif sse:
        await resp.write(_done(stream.usage))
    await resp.write_eof()
    return resp
