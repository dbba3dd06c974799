"""OpenAI's media endpoints for `FakeOpenAI`: images, edits, Sora-style videos, speech, embeddings.

Shapes follow OpenAI's API: dall-e answers URLs (or `b64_json` when asked), GPT image models
always `b64_json` with `usage`; a video goes queued -> in_progress -> completed one step per
retrieve and its bytes come only from `/videos/{id}/content`, with the key; speech answers raw
audio bytes with the format's content type; embeddings honour `encoding_format` and `dimensions`.
"""

from __future__ import annotations

import asyncio
import base64
import email.policy
import hashlib
import struct
import threading
import time
from email.parser import BytesParser
from typing import Any

import orjson
from aiohttp import web

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\xa5\xf7\xaf\xd6\x00\x00\x00\x00IEND\xaeB`\x82")
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 64
AUDIO = {"mp3": (b"ID3\x04\x00\x00" + b"\xff\xfb" * 512, "audio/mpeg"),
         "wav": (b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x00" * 1024, "audio/wav"),
         "opus": (b"OggS" + b"\x01" * 512, "audio/ogg"), "aac": (b"\xff\xf1" * 256, "audio/aac"),
         "flac": (b"fLaC" + b"\x02" * 512, "audio/flac"), "pcm": (b"\x00\x01" * 512, "audio/pcm")}
_VIDEO_STEPS = ("queued", "in_progress", "completed")


def error(status: int, message: str, param: str | None = None, code: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                        "param": param, "code": code}}, status=status)


def vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % 32] - 128) / 128, 4) for i in range(dims)]


class OpenAIMedia:
    def __init__(self, base: str) -> None:
        self.base = base  # the fake's own URL, for dall-e's result URLs
        self.videos: dict[str, dict[str, Any]] = {}
        self.video_steps = _VIDEO_STEPS
        self.expired_files: set[str] = set()
        self.speech_pieces = 4
        self.speech_gate: threading.Event | None = None
        self.speech_drop_after: int | None = None

    async def answer(self, request: web.Request, path: str, body: bytes) -> web.StreamResponse | None:
        if path.startswith("/files/"):
            name = path[len("/files/"):]
            return error(403, "expired") if name in self.expired_files else web.Response(body=PNG, content_type="image/png")
        path = path.removeprefix("/v1")
        if path == "/images/generations":
            return self.images(_json(body))
        if path == "/images/edits":
            return await self.edits(request)
        if path == "/videos" and request.method == "POST":
            fields = _json(body) if request.content_type == "application/json" else await _form(request)
            return self.create_video(fields)
        if path.startswith("/videos/"):
            rest = path[len("/videos/"):]
            vid, _, tail = rest.partition("/")
            if vid not in self.videos:
                return error(404, f"Video with id '{vid}' not found.", code="video_not_found")
            if tail == "content":
                video = self.videos[vid]
                if video["status"] != "completed":
                    return error(400, "Video is not ready yet, use GET /v1/videos/{video_id} to check status.")
                return web.Response(body=MP4, content_type="video/mp4")
            return web.json_response(self.step_video(vid))
        if path == "/audio/speech":
            return await self.speech(request, _json(body))
        if path == "/embeddings":
            return self.embeddings(_json(body))
        return None

    def images(self, body: dict[str, Any]) -> web.Response:
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            return error(400, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
        model = body.get("model") or "dall-e-2"
        n = body.get("n") or 1
        if model == "dall-e-3" and n != 1:
            return error(400, "You must provide n=1 for this model.", "n")
        return web.json_response(self._images(model, n, body.get("response_format"), body["prompt"]))

    def _images(self, model: str, n: int, fmt: str | None, prompt: str) -> dict[str, Any]:
        gpt = model.startswith("gpt-image")
        data = []
        for i in range(n):
            item: dict[str, Any] = {}
            if gpt or fmt == "b64_json":
                item["b64_json"] = base64.b64encode(PNG).decode()
            else:
                item["url"] = f"{self.base}/files/img-{i}.png?se=signed"
            if model == "dall-e-3":
                item["revised_prompt"] = "A detailed rendering of " + prompt
            data.append(item)
        out: dict[str, Any] = {"created": int(time.time()), "data": data}
        if gpt:
            out["usage"] = {"input_tokens": 12, "output_tokens": 4160 * n, "total_tokens": 12 + 4160 * n,
                            "input_tokens_details": {"text_tokens": 12, "image_tokens": 0}}
        return out

    async def edits(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            return error(400, "Edits take multipart/form-data.")
        fields, files = await _parts(request)
        if not files.get("image"):
            return error(400, "Missing required parameter: 'image'.", "image", "missing_required_parameter")
        if any(not f.startswith(b"\x89PNG") for f in files["image"]):
            return error(400, "Invalid image file; supported formats are png, webp and jpg.", "image")
        model = fields.get("model") or "dall-e-2"
        return web.json_response(self._images(model, int(fields.get("n") or 1), fields.get("response_format"),
                                              fields.get("prompt", "")))

    def create_video(self, fields: dict[str, Any]) -> web.Response:
        if not fields.get("prompt"):
            return error(400, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
        seconds = str(fields.get("seconds") or "4")
        if seconds not in ("4", "8", "12"):
            return error(400, f"Invalid value: '{seconds}'. Supported values are: '4', '8', and '12'.", "seconds",
                         "invalid_value")
        vid = f"video_{len(self.videos) + 1:04d}fake"
        self.videos[vid] = {"id": vid, "object": "video", "model": fields.get("model") or "sora-2",
                            "status": "queued", "progress": 0, "created_at": int(time.time()), "completed_at": None,
                            "expires_at": None, "prompt": fields["prompt"], "seconds": seconds,
                            "size": fields.get("size") or "720x1280", "remixed_from_video_id": None, "error": None,
                            "step": 0, "had_reference": bool(fields.get("input_reference"))}
        return web.json_response(_public(self.videos[vid]))

    def step_video(self, vid: str) -> dict[str, Any]:
        video = self.videos[vid]
        video["step"] += 1
        status = self.video_steps[min(video["step"], len(self.video_steps) - 1)]
        video["status"] = status
        video["progress"] = {"queued": 0, "in_progress": 50, "completed": 100, "failed": 0}[status]
        if status == "completed" and video["completed_at"] is None:
            now = int(time.time())
            video["completed_at"], video["expires_at"] = now, now + 3600
        if status == "failed":
            video["error"] = {"code": "moderation_blocked", "message": "Your request was blocked by moderation."}
        return _public(video)

    async def speech(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        """Chunked audio as OpenAI streams it (or `speech.audio.*` events for `stream_format:
        "sse"`), in `speech_pieces` writes. `speech_gate` (a threading.Event) holds the rest after
        the first piece until set; `speech_drop_after` cuts the connection after that many pieces."""
        if not body.get("input"):
            return error(400, "Missing required parameter: 'input'.", "input", "missing_required_parameter")
        if not body.get("voice"):
            return error(400, "Missing required parameter: 'voice'.", "voice", "missing_required_parameter")
        fmt = body.get("response_format") or "mp3"
        if fmt not in AUDIO:
            return error(400, f"Invalid value: '{fmt}'.", "response_format", "invalid_value")
        sse = body.get("stream_format") == "sse"
        if sse and str(body.get("model", "")).startswith("tts-1"):
            return error(400, "stream_format 'sse' is not supported for this model.", "stream_format",
                         "invalid_value")
        audio, ctype = AUDIO[fmt]
        size = -(-len(audio) // self.speech_pieces)
        pieces = [audio[i:i + size] for i in range(0, len(audio), size)]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream" if sse else ctype})
        await resp.prepare(request)
        for i, piece in enumerate(pieces):
            if self.speech_drop_after is not None and i >= self.speech_drop_after:
                assert request.transport is not None
                request.transport.abort()
                return resp
            if i == 1 and self.speech_gate is not None:
                await asyncio.to_thread(self.speech_gate.wait, 10)
            if sse:
                event = {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()}
                await resp.write(b"data: " + orjson.dumps(event) + b"\n\n")
            else:
                await resp.write(piece)
        if sse:
            tokens = len(str(body["input"]).split())
            done = {"type": "speech.audio.done",
                    "usage": {"input_tokens": tokens, "output_tokens": len(audio) // 64,
                              "total_tokens": tokens + len(audio) // 64}}
            await resp.write(b"data: " + orjson.dumps(done) + b"\n\n")
        await resp.write_eof()
        return resp

    def embeddings(self, body: dict[str, Any]) -> web.Response:
        value = body.get("input")
        texts = [value] if isinstance(value, str) else value
        if not texts or not isinstance(texts, list):
            return error(400, "'input' must be a string or an array.", "input")
        dims = body.get("dimensions") or 8
        data = []
        for i, t in enumerate(texts):
            vec = vector(str(t), dims)
            emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() \
                if body.get("encoding_format") == "base64" else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(str(t).split()) for t in texts)
        return web.json_response({"object": "list", "data": data, "model": body.get("model"),
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _public(video: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in video.items() if k not in ("step", "had_reference")}


def _json(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


async def _parts(request: web.Request) -> tuple[dict[str, str], dict[str, list[bytes]]]:
    """The recorder already read the body, so the form is parsed from the bytes (as MIME)."""
    raw = await request.read()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
    fields: dict[str, str] = {}
    files: dict[str, list[bytes]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = str(part.get_param("name", header="content-disposition") or "").split("[", 1)[0]
        data = bytes(part.get_payload(decode=True) or b"")  # type: ignore[arg-type]
        if part.get_filename() is not None:
            files.setdefault(name, []).append(data)
        else:
            fields[name] = data.decode()
    return fields, files


async def _form(request: web.Request) -> dict[str, Any]:
    fields, files = await _parts(request)
    return {**fields, **({"input_reference": files["input_reference"][0]} if files.get("input_reference") else {})}
