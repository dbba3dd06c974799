"""Gemini Live (`BidiGenerateContent`) behind OpenAI's realtime events.

Gemini takes its whole session config once, in the first message (`setup`), so the translator
holds the client's events until its first `session.update` (or any other event: then the
defaults) and sends `setup` built from it; `setupComplete` becomes `session.updated`. Gemini
has no response objects: the translator opens one at the first audio, text or function call
of a model turn and closes it (`response.done`, with the turn's `usageMetadata`) at
`turnComplete`, at a tool call (Gemini then waits for the tool response), or at `interrupted`
(status `cancelled`). Gemini starts generating by itself after a turn ends (VAD, `activityEnd`,
a tool response), so `response.create` only completes pending text turns.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from relayport.provider import Deployment
from relayport.realtime import RealtimeEndpoint, RealtimeError, Relay
from relayport.realtime.endpoint import NOTHING_TO_RELAY, session_of, ws_url

Event = dict[str, Any]

SERVICE = "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
INPUT_RATE = 24000  # OpenAI's pcm16 default; Gemini resamples whatever rate the MIME type names


def endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint:
    version = str(deployment.options.get("api_version", "v1beta"))
    # The client's other query parameters (OpenAI's `intent`...) mean nothing to Gemini.
    url = ws_url(deployment.base_url.rstrip("/")) + SERVICE.format(version=version)
    return RealtimeEndpoint(url, deployment.auth_headers(), translator=LiveTranslator(deployment.model))


def _id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(8).hex()}"


def _tools(tools: Any) -> list[Event]:
    decls = []
    for tool in tools or ():
        if isinstance(tool, dict) and tool.get("type") == "function" and tool.get("name"):
            decl = {"name": tool["name"], "description": tool.get("description", "")}
            if tool.get("parameters"):
                decl["parameters"] = tool["parameters"]
            decls.append(decl)
    return [{"functionDeclarations": decls}] if decls else []


def setup_message(model: str, session: Event) -> Event:
    """Gemini's `setup` for an OpenAI (GA) session config."""
    modalities = session.get("output_modalities") or ["audio"]
    audio = session.get("audio") if isinstance(session.get("audio"), dict) else {}
    inp = audio.get("input") if isinstance(audio.get("input"), dict) else {}
    out = audio.get("output") if isinstance(audio.get("output"), dict) else {}
    generation: Event = {"responseModalities": ["AUDIO" if "audio" in modalities else "TEXT"]}
    voice = out.get("voice") or session.get("voice")
    if voice:
        generation["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}
    if isinstance(session.get("max_output_tokens"), int):
        generation["maxOutputTokens"] = session["max_output_tokens"]
    if isinstance(session.get("temperature"), (int, float)):
        generation["temperature"] = session["temperature"]
    setup: Event = {"model": model if model.startswith("models/") else "models/" + model,
                    "generationConfig": generation}
    if session.get("instructions"):
        setup["systemInstruction"] = {"parts": [{"text": session["instructions"]}]}
    if tools := _tools(session.get("tools")):
        setup["tools"] = tools
    if "turn_detection" in inp and inp["turn_detection"] is None:
        setup["realtimeInputConfig"] = {"automaticActivityDetection": {"disabled": True}}
    if inp.get("transcription"):
        setup["inputAudioTranscription"] = {}
    if "AUDIO" in generation["responseModalities"]:
        setup["outputAudioTranscription"] = {}  # the transcript deltas OpenAI clients show
    return {"setup": setup}


def _rate(session: Event) -> int:
    fmt = ((session.get("audio") or {}).get("input") or {}).get("format")
    rate = fmt.get("rate") if isinstance(fmt, dict) else None
    return rate if isinstance(rate, int) else INPUT_RATE


def openai_usage(meta: Event | None) -> Event | None:
    if not meta:
        return None

    def by(details: Any, modality: str) -> int:
        return sum(d.get("tokenCount", 0) for d in details or () if isinstance(d, dict) and d.get("modality") == modality)

    inp = int(meta.get("promptTokenCount") or 0)
    out = int(meta.get("responseTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    p, r = meta.get("promptTokensDetails"), meta.get("responseTokensDetails")
    return {"total_tokens": inp + out, "input_tokens": inp, "output_tokens": out,
            "input_token_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0),
                                    "text_tokens": by(p, "TEXT"), "audio_tokens": by(p, "AUDIO"),
                                    "image_tokens": by(p, "IMAGE") + by(p, "VIDEO")},
            "output_token_details": {"text_tokens": by(r, "TEXT"), "audio_tokens": by(r, "AUDIO")}}


class LiveTranslator:
    def __init__(self, model: str) -> None:
        self.model = model
        self.session: Event = {"type": "realtime", "object": "realtime.session", "id": _id("sess"),
                               "model": model, "output_modalities": ["audio"]}
        self.set_up = False
        self.manual = False  # turn_detection None: the client marks turns (activityStart/End)
        self.speaking = False
        self.rate = INPUT_RATE
        self.pending_text = False
        self.calls: dict[str, str] = {}  # call id -> function name (Gemini wants it back)
        self.usage: Event | None = None
        self.response: Event | None = None
        self.transcript = ""
        self.text = ""
        self.audio = False

    # ------------------------------------------------------------------ client -> Gemini

    def start(self) -> Relay:
        return Relay(client=[{"type": "session.created", "event_id": _id("event"), "session": self.session}])

    def _setup(self, session: Event | None) -> list[Event]:
        if session:
            self.session.update({k: v for k, v in session.items() if k != "model"})
        inp = ((self.session.get("audio") or {}).get("input") or {})
        self.manual = "turn_detection" in inp and inp["turn_detection"] is None
        self.rate = _rate(self.session)
        self.set_up = True
        return [setup_message(self.model, self.session)]

    def from_client(self, event: Event) -> Relay:
        kind = event["type"]
        if kind == "session.update":
            session = session_of(event)
            if self.set_up:
                raise RealtimeError("Gemini Live takes the session config once, at the start; "
                                    "open a new session to change it.", "session_update_unsupported")
            return Relay(vendor=self._setup(session))
        relay = Relay(vendor=[] if self.set_up else self._setup(None))
        if kind == "input_audio_buffer.append":
            audio = event.get("audio")
            if not isinstance(audio, str):
                raise RealtimeError("'audio' must be a base64 string.", "invalid_value")
            if self.manual and not self.speaking:
                relay.vendor.append({"realtimeInput": {"activityStart": {}}})
                self.speaking = True
            relay.vendor.append({"realtimeInput": {"audio": {"data": audio,
                                                             "mimeType": f"audio/pcm;rate={self.rate}"}}})
        elif kind == "input_audio_buffer.commit":
            if self.manual:
                if self.speaking:
                    relay.vendor.append({"realtimeInput": {"activityEnd": {}}})
                self.speaking = False
            else:
                relay.vendor.append({"realtimeInput": {"audioStreamEnd": True}})
            relay.client.append({"type": "input_audio_buffer.committed", "event_id": _id("event"),
                                 "item_id": _id("item"), "previous_item_id": None})
        elif kind == "input_audio_buffer.clear":
            relay.client.append({"type": "input_audio_buffer.cleared", "event_id": _id("event")})
        elif kind == "conversation.item.create":
            self._item(event.get("item"), relay)
        elif kind == "response.create":
            if self.pending_text:
                relay.vendor.append({"clientContent": {"turnComplete": True}})
                self.pending_text = False
        else:
            raise RealtimeError(f"Gemini Live sessions do not support '{kind}'.", "unsupported_event")
        return relay

    def _item(self, item: Any, relay: Relay) -> None:
        if not isinstance(item, dict):
            raise RealtimeError("'item' must be an object.", "invalid_value")
        created = {**item, "id": item.get("id") or _id("item")}
        if item.get("type") == "function_call_output":
            call_id = item.get("call_id")
            output = item.get("output", "")
            try:
                parsed = orjson.loads(output) if isinstance(output, str) else output
            except orjson.JSONDecodeError:
                parsed = output
            response = parsed if isinstance(parsed, dict) else {"output": parsed}
            relay.vendor.append({"toolResponse": {"functionResponses": [
                {"id": call_id, "name": self.calls.get(str(call_id), ""), "response": response}]}})
        elif item.get("type") == "message":
            parts = [{"text": c["text"]} for c in item.get("content") or ()
                     if isinstance(c, dict) and c.get("type") in ("input_text", "text", "output_text") and c.get("text")]
            role = "model" if item.get("role") == "assistant" else "user"
            relay.vendor.append({"clientContent": {"turns": [{"role": role, "parts": parts}], "turnComplete": False}})
            self.pending_text = True
        else:
            raise RealtimeError(f"Gemini Live sessions do not take '{item.get('type')}' items.", "unsupported_event")
        relay.client.append({"type": "conversation.item.created", "event_id": _id("event"),
                             "previous_item_id": None, "item": created})

    # ------------------------------------------------------------------ Gemini -> client

    def _open(self, out: list[Event], kind: str) -> Event:
        if self.response is None:
            self.response = {"id": _id("resp"), "object": "realtime.response", "status": "in_progress", "output": []}
            self.item_id = _id("item")
            self.transcript = self.text = ""
            self.audio = False
            out.append({"type": "response.created", "event_id": _id("event"), "response": dict(self.response)})
            if kind == "message":
                self._message(out)
        elif kind == "message" and not any(i["type"] == "message" for i in self.response["output"]):
            self.item_id = _id("item")
            self._message(out)
        return self.response

    def _message(self, out: list[Event]) -> None:
        assert self.response is not None
        item = {"id": self.item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        self.response["output"].append(item)
        out.append({"type": "response.output_item.added", "event_id": _id("event"), "response_id": self.response["id"],
                    "output_index": len(self.response["output"]) - 1, "item": item})

    def _where(self) -> Event:
        assert self.response is not None
        index = next(i for i, it in enumerate(self.response["output"]) if it["type"] == "message")
        return {"response_id": self.response["id"], "item_id": self.item_id, "output_index": index,
                "content_index": 0}

    def _close(self, out: list[Event], status: str) -> None:
        response = self.response
        if response is None:
            return
        where = None
        for item in response["output"]:
            if item["type"] == "message":
                where = self._where()
                if self.audio:
                    out.append({"type": "response.output_audio.done", "event_id": _id("event"), **where})
                    out.append({"type": "response.output_audio_transcript.done", "event_id": _id("event"), **where,
                                "transcript": self.transcript})
                    item["content"] = [{"type": "output_audio", "transcript": self.transcript}]
                elif self.text:
                    out.append({"type": "response.output_text.done", "event_id": _id("event"), **where,
                                "text": self.text})
                    item["content"] = [{"type": "output_text", "text": self.text}]
                item["status"] = "completed" if status == "completed" else "incomplete"
                out.append({"type": "response.output_item.done", "event_id": _id("event"),
                            "response_id": response["id"], "output_index": where["output_index"], "item": item})
        response["status"] = status
        if (usage := openai_usage(self.usage)) is not None:
            response["usage"] = usage
        out.append({"type": "response.done", "event_id": _id("event"), "response": response})
        self.response = None
        self.usage = None

    def from_vendor(self, event: Event) -> Relay:
        out: list[Event] = []
        if "usageMetadata" in event:
            self.usage = event["usageMetadata"]
        if "setupComplete" in event:
            out.append({"type": "session.updated", "event_id": _id("event"), "session": self.session})
        content = event.get("serverContent")
        if isinstance(content, dict):
            self._content(content, out)
        call = event.get("toolCall")
        if isinstance(call, dict):
            self._calls(call.get("functionCalls") or (), out)
        if "goAway" in event:
            left = (event.get("goAway") or {}).get("timeLeft")
            out.append({"type": "error", "event_id": _id("event"), "error": {
                "type": "server_error", "code": "session_expiring", "param": None, "event_id": None,
                "message": f"Gemini will end this session soon (time left: {left})."}})
        return Relay(client=out) if out else NOTHING_TO_RELAY

    def _content(self, content: Event, out: list[Event]) -> None:
        if content.get("interrupted"):
            out.append({"type": "input_audio_buffer.speech_started", "event_id": _id("event"),
                        "audio_start_ms": 0, "item_id": _id("item")})
            self._close(out, "cancelled")
        text = (content.get("inputTranscription") or {}).get("text")
        if text:
            out.append({"type": "conversation.item.input_audio_transcription.delta", "event_id": _id("event"),
                        "item_id": "input", "content_index": 0, "delta": text})
        for part in (content.get("modelTurn") or {}).get("parts") or ():
            inline = part.get("inlineData")
            if isinstance(inline, dict) and str(inline.get("mimeType", "")).startswith("audio/"):
                self._open(out, "message")
                if not self.audio:
                    self.audio = True
                    out.append({"type": "response.content_part.added", "event_id": _id("event"), **self._where(),
                                "part": {"type": "output_audio", "transcript": ""}})
                out.append({"type": "response.output_audio.delta", "event_id": _id("event"), **self._where(),
                            "delta": inline.get("data", "")})
            elif isinstance(part.get("text"), str) and not part.get("thought"):
                self._open(out, "message")
                self.text += part["text"]
                out.append({"type": "response.output_text.delta", "event_id": _id("event"), **self._where(),
                            "delta": part["text"]})
        said = (content.get("outputTranscription") or {}).get("text")
        if said:
            self._open(out, "message")
            self.transcript += said
            out.append({"type": "response.output_audio_transcript.delta", "event_id": _id("event"), **self._where(),
                        "delta": said})
        if content.get("turnComplete"):
            self._close(out, "completed")

    def _calls(self, calls: Any, out: list[Event]) -> None:
        for call in calls:
            if not isinstance(call, dict):
                continue
            response = self._open(out, "function_call")
            call_id = str(call.get("id") or _id("call"))
            name = str(call.get("name", ""))
            self.calls[call_id] = name
            arguments = orjson.dumps(call.get("args") or {}).decode()
            item = {"id": _id("item"), "type": "function_call", "status": "in_progress", "call_id": call_id,
                    "name": name, "arguments": ""}
            index = len(response["output"])
            response["output"].append(item)
            where = {"response_id": response["id"], "item_id": item["id"], "output_index": index, "call_id": call_id}
            out.append({"type": "response.output_item.added", "event_id": _id("event"), "response_id": response["id"],
                        "output_index": index, "item": item})
            out.append({"type": "response.function_call_arguments.delta", "event_id": _id("event"), **where,
                        "delta": arguments})
            out.append({"type": "response.function_call_arguments.done", "event_id": _id("event"), **where,
                        "name": name, "arguments": arguments})
            item.update(status="completed", arguments=arguments)
            out.append({"type": "response.output_item.done", "event_id": _id("event"), "response_id": response["id"],
                        "output_index": index, "item": item})
        # Gemini now waits for the tool responses: the response is over, as OpenAI's would be.
        self._close(out, "completed")
