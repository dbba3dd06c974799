"""Realtime test kit: a fake OpenAI realtime vendor, the scripted conversation every fake plays,
and a client that plays its side through the official `openai` SDK.

The conversation: the client configures the session with one tool, sends three audio chunks,
commits and asks for a response; the vendor answers with a function call; the client sends
the call's output and asks again; the vendor answers with audio deltas and their transcript.
Every fake (OpenAI's events here, Gemini Live and DashScope in their plugins) plays the same
`Script`, so one `play` checks all three end to end.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any

import attrs
import orjson
from aiohttp import WSMsgType, web

from relayport.testing.servers import ServerThread

Event = dict[str, Any]

TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@attrs.define
class Script:
    """What the user says and what the fake vendor answers."""

    audio_in: tuple[bytes, ...] = (b"\x01\x00" * 800, b"\x02\x00" * 800, b"\x03\x00" * 800)
    audio_out: tuple[bytes, ...] = tuple(bytes([i]) * 1200 for i in range(1, 7))
    transcript: tuple[str, ...] = ("It is ", "sunny ", "in Paris.")
    call_name: str = "get_weather"
    call_args: tuple[str, ...] = ('{"city":', ' "Paris"}')
    call_id: str = "call_w1"
    tool_output: str = '{"sky": "sunny"}'
    instructions: str = "You are a weather bot."
    # Token counts of the two responses (input, cached, input audio, output, output audio).
    usage: tuple[tuple[int, int, int, int, int], ...] = ((40, 0, 30, 10, 0), (60, 32, 30, 45, 35))

    @property
    def arguments(self) -> str:
        return "".join(self.call_args)


def openai_usage(counts: tuple[int, int, int, int, int]) -> Event:
    inp, cached, audio_in, out, audio_out = counts
    return {"total_tokens": inp + out, "input_tokens": inp, "output_tokens": out,
            "input_token_details": {"cached_tokens": cached, "text_tokens": inp - audio_in, "audio_tokens": audio_in,
                                    "image_tokens": 0},
            "output_token_details": {"text_tokens": out - audio_out, "audio_tokens": audio_out}}


class FakeRealtimeBase:
    """A WebSocket vendor on loopback that records what it got and can misbehave on demand.

    `drop_after`: abort the TCP connection (no close frame) after sending that many events of
    a response. `close_next`: (code, reason) to close with on the next client event.
    """

    path = "/v1/realtime"

    def __init__(self, key: str = "sk-fake-realtime", script: Script | None = None) -> None:
        self.key = key
        self.script = script or Script()
        self.received: list[Event] = []
        self.frames_in = 0
        self.audio_in = bytearray()
        self.connections = 0
        self.queries: list[dict[str, str]] = []
        self.closed_at: list[float] = []
        self.close_codes: list[int | None] = []
        self.drop_after: int | None = None
        self.close_next: tuple[int, str] | None = None
        self.delay: float = 0.0  # seconds before each response (to let a test act mid-session)
        self.answer_pings = True  # False: a vendor that stops answering the gateway's pings
        app = web.Application()
        app.router.add_get(self.path, self._handle)
        self._server = ServerThread(app)

    def start(self) -> FakeRealtimeBase:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.url + "/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._server.port}{self.path}"

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.key}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self.authorized(request):
            return web.json_response({"error": {"type": "invalid_request_error", "code": "invalid_api_key",
                                                "message": "Incorrect API key provided."}}, status=401)
        self.connections += 1
        self.queries.append(dict(request.query))
        transport = request.transport
        ws = web.WebSocketResponse(max_msg_size=0, heartbeat=None, autoping=self.answer_pings)
        await ws.prepare(request)
        state: dict[str, Any] = {"sent": 0, "transport": transport, "ws": ws, "seq": 0, "received": [],
                                 "model": request.query.get("model")}
        try:
            for out in self.opening(state, request):
                await self.send(state, out)
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                self.frames_in += 1
                if self.close_next is not None:
                    code, reason = self.close_next
                    self.close_next = None
                    await ws.close(code=code, message=reason.encode())
                    break
                event = orjson.loads(msg.data)
                self.received.append(event)
                state["received"].append(event)
                for out in await self.answer(state, event):
                    await self.send(state, out)
        except _Dropped:
            pass
        finally:
            self.closed_at.append(time.monotonic())
            self.close_codes.append(ws.close_code)
        return ws

    async def send(self, state: dict[str, Any], event: Event | bytes) -> None:
        limit = self.drop_after
        if limit is not None and state["sent"] >= limit:
            state["transport"].abort()
            raise _Dropped
        state["sent"] += 1
        if isinstance(event, dict) and "event_id" in event and event["event_id"] is None:
            state["seq"] += 1
            event["event_id"] = f"event_{state['seq']:06d}"
        await state["ws"].send_bytes(event) if isinstance(event, bytes) else await state["ws"].send_str(
            orjson.dumps(event).decode())

    def opening(self, state: dict[str, Any], request: web.Request) -> list[Event]:
        return []

    async def answer(self, state: dict[str, Any], event: Event) -> list[Event]:
        raise NotImplementedError


class _Dropped(Exception):
    pass


class FakeOpenAIRealtime(FakeRealtimeBase):
    """OpenAI's realtime API (GA event names) playing `Script`.

    `fake.base_url` is what the OpenAI SDK calls base_url; the socket is `{base_url}/realtime`.
    """

    # Names that differ in older protocols (DashScope speaks OpenAI's beta names): a subclass remaps.
    names: dict[str, str] = {}

    def name(self, ga: str) -> str:
        return self.names.get(ga, ga)

    def opening(self, state: dict[str, Any], request: web.Request) -> list[Event]:
        state["session"] = {"type": "realtime", "object": "realtime.session", "id": "sess_1",
                            "model": request.query.get("model"), "output_modalities": ["audio"]}
        return [self.event(state, "session.created", session=state["session"])]

    def event(self, state: dict[str, Any], type: str, **fields: Any) -> Event:
        return {"type": self.name(type), "event_id": None, **fields}  # numbered as sent

    def check_session(self, session: Event) -> str | None:
        """An error message for a session config this vendor refuses."""
        return None

    async def answer(self, state: dict[str, Any], event: Event) -> list[Event]:
        st = state
        kind = event.get("type")
        s = self.script
        if kind == "session.update":
            problem = self.check_session(event.get("session") or {})
            if problem:
                return [self.error(st, problem, "invalid_value", event)]
            st["session"].update(event.get("session") or {})
            return [self.event(st, "session.updated", session=st["session"])]
        if kind == "input_audio_buffer.append":
            try:
                self.audio_in += base64.b64decode(event["audio"], validate=True)
            except (KeyError, ValueError):
                return [self.error(st, "Invalid 'audio': not base64.", "invalid_value", event)]
            return []
        if kind == "input_audio_buffer.commit":
            return [self.event(st, "input_audio_buffer.committed", item_id="item_user1", previous_item_id=None)]
        if kind == "conversation.item.create":
            item = dict(event.get("item") or {})
            item.setdefault("id", "item_" + os.urandom(4).hex())
            return [self.event(st, "conversation.item.created", previous_item_id=None, item=item)]
        if kind == "response.create":
            if self.delay:
                await asyncio.sleep(self.delay)
            outputs = [e.get("item", {}) for e in st["received"] if e.get("type") == "conversation.item.create"]
            answered = any(i.get("type") == "function_call_output" and i.get("call_id") == s.call_id
                           and i.get("output") == s.tool_output for i in outputs)
            return self.spoken_answer(st) if answered else self.function_call(st)
        return [self.error(st, f"Invalid value: '{kind}'. Supported values are: 'session.update', ...",
                           "invalid_value", event)]

    def error(self, st: dict[str, Any], message: str, code: str, event: Event) -> Event:
        return self.event(st, "error", error={"type": "invalid_request_error", "code": code, "message": message,
                                          "param": None, "event_id": event.get("event_id")})

    def _response(self, rid: str, status: str, output: list[Event], n: int) -> Event:
        response: Event = {"id": rid, "object": "realtime.response", "status": status, "output": output}
        if status != "in_progress":
            response["usage"] = self.usage(n)
        return response

    def usage(self, n: int) -> Event:
        return openai_usage(self.script.usage[n])

    def function_call(self, st: dict[str, Any]) -> list[Event]:
        s, rid, iid = self.script, "resp_1", "item_fc1"
        item = {"id": iid, "type": "function_call", "status": "in_progress", "call_id": s.call_id,
                "name": s.call_name, "arguments": ""}
        where = {"response_id": rid, "item_id": iid, "output_index": 0, "call_id": s.call_id}
        done = {**item, "status": "completed", "arguments": s.arguments}
        return [
            self.event(st, "response.created", response=self._response(rid, "in_progress", [], 0)),
            self.event(st, "response.output_item.added", response_id=rid, output_index=0, item=item),
            *(self.event(st, "response.function_call_arguments.delta", **where, delta=d) for d in s.call_args),
            self.event(st, "response.function_call_arguments.done", **where, name=s.call_name, arguments=s.arguments),
            self.event(st, "response.output_item.done", response_id=rid, output_index=0, item=done),
            self.event(st, "response.done", response=self._response(rid, "completed", [done], 0)),
        ]

    def spoken_answer(self, st: dict[str, Any]) -> list[Event]:
        s, rid, iid = self.script, "resp_2", "item_msg2"
        where = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        item = {"id": iid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        text = "".join(s.transcript)
        done = {**item, "status": "completed", "content": [{"type": "output_audio", "transcript": text}]}
        deltas: list[Event] = []
        for i, chunk in enumerate(s.audio_out):
            deltas.append(self.event(st, "response.output_audio.delta", **where,
                                     delta=base64.b64encode(chunk).decode()))
            if i < len(s.transcript):
                deltas.append(self.event(st, "response.output_audio_transcript.delta", **where, delta=s.transcript[i]))
        return [
            self.event(st, "response.created", response=self._response(rid, "in_progress", [], 1)),
            self.event(st, "response.output_item.added", response_id=rid, output_index=0, item=item),
            self.event(st, "response.content_part.added", **where, part={"type": "output_audio", "transcript": ""}),
            *deltas,
            self.event(st, "response.output_audio.done", **where),
            self.event(st, "response.output_audio_transcript.done", **where, transcript=text),
            self.event(st, "response.content_part.done", **where, part={"type": "output_audio", "transcript": text}),
            self.event(st, "response.output_item.done", response_id=rid, output_index=0, item=done),
            self.event(st, "response.done", response=self._response(rid, "completed", [done], 1)),
        ]


@attrs.define
class Played:
    """What the client saw of the conversation."""

    types: list[str] = attrs.field(factory=list)
    audio: bytearray = attrs.field(factory=bytearray)
    transcript: str = ""
    call: Event = attrs.field(factory=dict)
    usages: list[Event] = attrs.field(factory=list)
    errors: list[Event] = attrs.field(factory=list)


async def play(connection: Any, script: Script | None = None, timeout: float = 10) -> Played:
    """Play the client's side over an open `openai` SDK realtime connection (`client.realtime.connect`)."""
    s = script or Script()
    seen = Played()

    async def until_done() -> None:
        async for event in connection:
            data = event.model_dump() if hasattr(event, "model_dump") else dict(event)
            kind = data["type"]
            seen.types.append(kind)
            if kind == "error":
                seen.errors.append(data["error"])
            elif kind == "response.output_audio.delta":
                seen.audio += base64.b64decode(data["delta"])
            elif kind == "response.output_audio_transcript.delta":
                seen.transcript += data["delta"]
            elif kind == "response.function_call_arguments.done":
                seen.call = {"call_id": data["call_id"], "name": data.get("name"), "arguments": data["arguments"]}
            elif kind == "response.done":
                seen.usages.append(data["response"]["usage"])
                return

    await connection.session.update(session={"type": "realtime", "instructions": s.instructions,
                                             "output_modalities": ["audio"], "tools": [TOOL]})
    for chunk in s.audio_in:
        await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
    await connection.input_audio_buffer.commit()
    await connection.response.create()
    await asyncio.wait_for(until_done(), timeout)
    await connection.conversation.item.create(item={"type": "function_call_output", "call_id": seen.call["call_id"],
                                                    "output": s.tool_output})
    await connection.response.create()
    await asyncio.wait_for(until_done(), timeout)
    return seen


def expected_audio(script: Script | None = None) -> bytes:
    return b"".join((script or Script()).audio_out)
