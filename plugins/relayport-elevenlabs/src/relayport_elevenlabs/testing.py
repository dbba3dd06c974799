"""A fake ElevenLabs API for tests: `xi-api-key` auth, `POST /v1/text-to-speech/{voice_id}` (whole
audio) and `/stream` (chunked, in `pieces` writes), `output_format` as a query parameter with
plan-gated formats, `{"detail": {"status", "message"}}` errors and FastAPI-style 422s."""

from __future__ import annotations

import asyncio
import re
import threading

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest

KEY = "xi-test-key"
VOICE = "JBFqnCBsd6RMkjVDRZzb"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xf3\x44\xc4" * 400
PCM = b"\x01\x00\xff\x7f" * 600
_FORMAT = re.compile(r"(mp3|pcm|ulaw|alaw|opus)_\d+(_\d+)?")
# Formats the fake's account plan does not include (ElevenLabs gates them by plan).
GATED = frozenset({"mp3_44100_192", "pcm_44100"})


class FakeElevenLabs(FakeUpstream):
    def __init__(self) -> None:
        super().__init__(default=self._answer)
        self.voices = {VOICE, "21m00Tcm4TlvDq8ikWAM"}
        self.pieces = 4
        self.gate: threading.Event | None = None  # holds the stream after its first piece until set
        self.drop_after: int | None = None  # cut the connection after this many pieces

    @staticmethod
    def _detail(status: int, word: str, message: str) -> web.Response:
        return web.json_response({"detail": {"status": word, "message": message}}, status=status)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.headers.get("xi-api-key") != KEY:
            return self._detail(401, "invalid_api_key", "Invalid API key")
        match = re.fullmatch(r"/v1/text-to-speech/([^/]+)(/stream)?", rec.path)
        if rec.method != "POST" or match is None:
            return web.json_response({"detail": "Not Found"}, status=404)
        voice, streamed = match.group(1), bool(match.group(2))
        body = rec.json()
        if not isinstance(body.get("text"), str) or not body["text"]:
            return web.json_response({"detail": [{"type": "missing", "loc": ["body", "text"],
                                                  "msg": "Field required", "input": body}]}, status=422)
        fmt = rec.query.get("output_format", "mp3_44100_128")
        if not _FORMAT.fullmatch(fmt):
            return web.json_response({"detail": [{"type": "enum", "loc": ["query", "output_format"],
                                                  "msg": "Input should be a valid output format"}]}, status=422)
        if fmt in GATED:
            return self._detail(403, "output_format_not_allowed",
                                f"Requested output format {fmt} is only allowed for higher tiers.")
        if voice not in self.voices:
            return self._detail(404, "voice_not_found", f"A voice with the voice_id {voice} was not found.")
        audio, ctype = (MP3, "audio/mpeg") if fmt.startswith("mp3") else (PCM, "application/octet-stream")
        if not streamed:
            return web.Response(body=audio, content_type=ctype)
        size = -(-len(audio) // self.pieces)
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        for i in range(self.pieces):
            if self.drop_after is not None and i >= self.drop_after:
                assert request.transport is not None
                request.transport.abort()
                return resp
            if i == 1 and self.gate is not None:
                await asyncio.to_thread(self.gate.wait, 10)
            await resp.write(audio[i * size:(i + 1) * size])
        await resp.write_eof()
        return resp
