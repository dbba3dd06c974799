"""A fake Gemini Live API (`BidiGenerateContent`) on loopback playing the realtime test `Script`.

Like the real service it wants `setup` first (else it closes with 1007), takes the key in
`x-goog-api-key`, audio as base64 PCM with its rate in the MIME type, answers in binary
frames, asks for the tool by `toolCall`, and speaks in `serverContent` parts with an output
transcription, ending the turn with `turnComplete` and `usageMetadata`.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.realtime import Event, FakeRealtimeBase

PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
_KNOWN = frozenset({"setup", "clientContent", "realtimeInput", "toolResponse"})


def usage_metadata(counts: tuple[int, int, int, int, int]) -> Event:
    inp, cached, audio_in, out, audio_out = counts
    return {"promptTokenCount": inp, "cachedContentTokenCount": cached, "responseTokenCount": out,
            "totalTokenCount": inp + out,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": inp - audio_in},
                                    {"modality": "AUDIO", "tokenCount": audio_in}],
            "responseTokensDetails": [{"modality": "TEXT", "tokenCount": out - audio_out},
                                      {"modality": "AUDIO", "tokenCount": audio_out}]}


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class FakeGeminiLive(FakeRealtimeBase):
    path = PATH

    def __init__(self, key: str = "gemini-live-key", **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        self.setups: list[Event] = []

    @property
    def base_url(self) -> str:
        return self._server.url

    def authorized(self, request: web.Request) -> bool:
        return (request.headers.get("x-goog-api-key") or request.query.get("key")) == self.key

    async def send(self, state: dict[str, Any], event: Event | bytes) -> None:
        await super().send(state, orjson.dumps(event) if isinstance(event, dict) else event)

    async def answer(self, state: dict[str, Any], event: Event) -> list[Event]:
        try:
            return self._answer(state, event)
        except _Refused as refused:
            await state["ws"].close(code=1007, message=refused.reason.encode())
            return []

    def _answer(self, state: dict[str, Any], event: Event) -> list[Event]:
        unknown = set(event) - _KNOWN
        if unknown or len(event) != 1:
            raise _Refused(f'Invalid JSON payload received. Unknown name "{sorted(unknown or event)[0]}".')
        if "setup" in event:
            setup = event["setup"]
            if state.get("setup") or not str(setup.get("model", "")).startswith("models/"):
                raise _Refused("setup must come once, first, with a models/ name.")
            state["setup"] = setup
            self.setups.append(setup)
            return [{"setupComplete": {}}]
        if not state.get("setup"):
            raise _Refused("The first message must be setup.")
        s = self.script
        if "realtimeInput" in event:
            rt = event["realtimeInput"]
            if "audio" in rt:
                if not str(rt["audio"].get("mimeType", "")).startswith("audio/pcm;rate="):
                    raise _Refused("audio needs a mimeType audio/pcm;rate=N")
                self.audio_in += base64.b64decode(rt["audio"]["data"], validate=True)
            if rt.get("audioStreamEnd") or "activityEnd" in rt:
                return [{"usageMetadata": usage_metadata(s.usage[0]),
                         "toolCall": {"functionCalls": [{"id": s.call_id, "name": s.call_name,
                                                         "args": orjson.loads(s.arguments)}]}}]
            return []
        if "toolResponse" in event:
            got = event["toolResponse"]["functionResponses"][0]
            if (got.get("id"), got.get("name"), got.get("response")) != (
                    s.call_id, s.call_name, orjson.loads(s.tool_output)):
                raise _Refused(f"function response does not answer the call: {got}")
            out: list[Event] = []
            for i, chunk in enumerate(s.audio_out):
                out.append({"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                    "mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(chunk).decode()}}]}}})
                if i < len(s.transcript):
                    out.append({"serverContent": {"outputTranscription": {"text": s.transcript[i]}}})
            out.append({"serverContent": {"generationComplete": True}})
            out.append({"serverContent": {"turnComplete": True}, "usageMetadata": usage_metadata(s.usage[1])})
            return out
        return []
