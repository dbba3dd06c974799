"""Qwen-Omni-Realtime (`qwen3-omni-flash-realtime`) behind OpenAI's realtime events.

DashScope speaks OpenAI's realtime protocol as it was in beta: the same client events, but the
session config is flat (`modalities`, `voice`, `input_audio_format`, `turn_detection`, tools in
chat-completions form) and the output events keep their beta names (`response.audio.delta`,
`response.audio_transcript.delta`, `response.text.delta`). The translator reshapes the session
both ways and renames those events; everything else passes as it is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from relayport.provider import Deployment
from relayport.realtime import RealtimeEndpoint, Relay
from relayport.realtime.endpoint import session_of, ws_url
from relayport_dashscope.hosts import _root

Event = dict[str, Any]

PATH = "/api-ws/v1/realtime"

# DashScope (beta) name -> OpenAI GA name, for server events.
TO_CLIENT = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
}
_PART_TYPES = {"audio": "output_audio", "text": "output_text"}


def endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint:
    # Only the model: the client's other query parameters (OpenAI's `intent`...) mean nothing here.
    url = ws_url(_root(deployment)) + PATH + "?" + urlencode({"model": deployment.model})
    return RealtimeEndpoint(url, deployment.auth_headers(), translator=DashScopeTranslator())


def vendor_session(session: Event) -> Event:
    """A GA session config in DashScope's flat shape."""
    out: Event = {}
    audio = session.get("audio") if isinstance(session.get("audio"), dict) else {}
    inp = audio.get("input") if isinstance(audio.get("input"), dict) else {}
    outp = audio.get("output") if isinstance(audio.get("output"), dict) else {}
    if "output_modalities" in session:
        out["modalities"] = ["text", "audio"] if "audio" in (session["output_modalities"] or ()) else ["text"]
    if voice := outp.get("voice") or session.get("voice"):
        out["voice"] = voice
    if "turn_detection" in inp:
        out["turn_detection"] = inp["turn_detection"]
    if inp.get("transcription"):
        out["input_audio_transcription"] = inp["transcription"]
    if audio:  # DashScope takes raw PCM both ways; OpenAI's `audio/pcm` maps to it
        out["input_audio_format"] = out["output_audio_format"] = "pcm"
    tools = []
    for tool in session.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") == "function" and "function" not in tool:
            tools.append({"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}})
        elif isinstance(tool, dict):
            tools.append(tool)
    if "tools" in session:
        out["tools"] = tools
    for name in ("instructions", "tool_choice", "temperature"):
        if name in session:
            out[name] = session[name]
    if "max_output_tokens" in session:
        out["max_tokens"] = session["max_output_tokens"]
    return out


def client_session(session: Event) -> Event:
    """DashScope's session object as OpenAI's GA session."""
    out = {k: v for k, v in session.items() if k not in ("modalities", "voice", "input_audio_format",
                                                         "output_audio_format", "turn_detection",
                                                         "input_audio_transcription", "max_tokens")}
    out["type"] = "realtime"
    if "modalities" in session:
        out["output_modalities"] = ["audio"] if "audio" in (session["modalities"] or ()) else ["text"]
    # Input is 16 kHz PCM (DashScope's rate); OpenAI's session type can only say 24 kHz, so
    # the input format is left out rather than misstated.
    audio: Event = {"input": {}, "output": {"format": {"type": "audio/pcm", "rate": 24000}}}
    if "turn_detection" in session:
        audio["input"]["turn_detection"] = session["turn_detection"]
    if session.get("input_audio_transcription"):
        audio["input"]["transcription"] = session["input_audio_transcription"]
    if session.get("voice"):
        audio["output"]["voice"] = session["voice"]
    out["audio"] = audio
    if "max_tokens" in session:
        out["max_output_tokens"] = session["max_tokens"]
    return out


def _usage(response: Event) -> None:
    usage = response.get("usage")
    if isinstance(usage, dict):
        for beta, ga in (("input_tokens_details", "input_token_details"), ("output_tokens_details", "output_token_details")):
            if beta in usage and ga not in usage:
                usage[ga] = usage.pop(beta)


def _parts(item: Any) -> None:
    if isinstance(item, dict):
        for part in item.get("content") or ():
            if isinstance(part, dict) and part.get("type") in _PART_TYPES:
                part["type"] = _PART_TYPES[part["type"]]


class DashScopeTranslator:
    def start(self) -> Relay:
        return Relay()

    def from_client(self, event: Event) -> Relay:
        kind = event["type"]
        if kind == "session.update":
            return Relay(vendor=[{**event, "session": vendor_session(session_of(event))}])
        if kind == "response.create" and isinstance(event.get("response"), dict):
            response = dict(event["response"])
            if "output_modalities" in response:
                mods = response.pop("output_modalities") or ()
                response["modalities"] = ["text", "audio"] if "audio" in mods else ["text"]
            return Relay(vendor=[{**event, "response": response}])
        return Relay(vendor=[event])

    def from_vendor(self, event: Event) -> Relay:
        kind = event.get("type")
        renamed = TO_CLIENT.get(kind) if isinstance(kind, str) else None
        if renamed is not None:
            event["type"] = renamed
        elif kind in ("session.created", "session.updated") and isinstance(event.get("session"), dict):
            event["session"] = client_session(event["session"])
        elif kind in ("response.done", "response.created") and isinstance(event.get("response"), dict):
            _usage(event["response"])
            for item in event["response"].get("output") or ():
                _parts(item)
        elif kind in ("response.content_part.added", "response.content_part.done"):
            part = event.get("part")
            if isinstance(part, dict) and part.get("type") in _PART_TYPES:
                part["type"] = _PART_TYPES[part["type"]]
        elif kind in ("response.output_item.added", "response.output_item.done", "conversation.item.created"):
            _parts(event.get("item"))
        return Relay(client=[event])
