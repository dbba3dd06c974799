"""The two sockets of one realtime session, and how it ends.

Each direction is one loop that awaits every send before it reads the next frame, so a slow
reader slows its writer through TCP (back-pressure) instead of filling memory. aiohttp
answers pings on both sockets and sends its own (`heartbeat`). Whichever side leaves first
decides the ending: the client leaving closes the vendor socket (waiting at most
`close_timeout` for its answer); the vendor closing passes its code and reason on to the
client; a vendor that vanishes gets the client an `error` event and close code 1011.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs
import orjson
from aiohttp import WSMsgType, web

from relayport.realtime.endpoint import Event, RealtimeError, RealtimeTranslator, Relay
from relayport.realtime.events import error_event

log = logging.getLogger("relayport.realtime")

TEXT = WSMsgType.TEXT
_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)
_ENDS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
# Only these may be sent in a close frame (RFC 6455 7.4); 1005/1006/1015 only describe one.
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
# Passthrough decodes a vendor frame only when its head names one of these (usage, timing).
_ACCOUNTED = (b'"response.done"', b'"response.created"')
_HEAD = 160


def sendable(code: int | None) -> int:
    if code is None:
        return 1011
    return code if code in _SENDABLE or 3000 <= code <= 4999 else 1011


@attrs.define
class Ending:
    """Why the session ended. `weak`: a failed send, which the other side's reason may explain better."""

    side: str  # "client" | "vendor" | "translator"
    code: int | None = None
    reason: str = ""
    abnormal: bool = False
    weak: bool = False
    message: str | None = None


class Session:
    def __init__(self, client: web.WebSocketResponse, vendor: aiohttp.ClientWebSocketResponse[bool],
                 translator: RealtimeTranslator | None, on_event: Callable[[Event], None] | None,
                 close_timeout: float = 1.0, first: list[Event] | None = None) -> None:
        self.client = client
        self.vendor = vendor
        self.translator = translator
        self.on_event = on_event  # told of each response.created / response.done sent to the client
        self.close_timeout = close_timeout
        self.first = first or []  # client events to apply before the client's own (a token's session)
        self.events_in = 0
        self.events_out = 0

    async def run(self) -> None:
        up = asyncio.create_task(self._client_to_vendor())
        down = asyncio.create_task(self._vendor_to_client())
        try:
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            first = up if up in done else down
            other = down if first is up else up
            ending: Ending = first.result()
            if ending.weak:
                # A send failed: the other loop may be about to say why (the vendor's close code).
                try:
                    better = await asyncio.wait_for(asyncio.shield(other), self.close_timeout)
                    ending = better if not better.weak else ending
                except (TimeoutError, Exception):
                    pass
            await self._finish(ending)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            if not self.vendor.closed:
                await asyncio.shield(self.vendor.close())
            if not self.client.closed:
                await asyncio.shield(self.client.close(code=1011))

    async def _finish(self, ending: Ending) -> None:
        if ending.side == "client":
            await self.vendor.close(code=1000)
            return
        # The vendor's socket ended (or a translator refused the session): tell the client.
        if ending.message is not None:
            await self._say(ending.message, "upstream_error" if ending.side == "vendor" else "session_ended",
                            "server_error" if ending.side == "vendor" else "invalid_request_error")
        if not self.vendor.closed:
            await self.vendor.close(code=1000)
        code = 1011 if ending.abnormal else sendable(ending.code)
        reason = ending.reason.encode()[:123]  # a close frame's reason fits 123 bytes
        await self.client.close(code=code, message=reason)

    async def _say(self, message: str, code: str, type: str = "invalid_request_error",
                   event_id: str | None = None) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.client.send_frame(error_event(message, code, type, event_id), TEXT)

    # ------------------------------------------------------------------ client -> vendor

    async def _client_to_vendor(self) -> Ending:
        translator = self.translator
        if translator is not None:
            ending = await self._relay(translator.start())
            if ending is not None:
                return ending
        for event in self.first:
            ending = await self._from_client(event, orjson.dumps(event))
            if ending is not None:
                return ending
        client = self.client
        while True:
            msg = await client.receive()
            kind = msg.type
            if kind is TEXT:
                data: bytes = msg.data
                try:
                    event = orjson.loads(data)
                except orjson.JSONDecodeError:
                    await self._say("The event is not valid JSON.", "invalid_json")
                    continue
                if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                    await self._say("An event must be a JSON object with a string 'type'.", "invalid_event")
                    continue
                self.events_in += 1
                ending = await self._from_client(event, data)
                if ending is not None:
                    return ending
            elif kind is WSMsgType.BINARY:
                await self._say("Realtime events are JSON text frames; binary frames are not accepted.",
                                "invalid_event")
            elif kind in _ENDS:
                code = msg.data if kind is WSMsgType.CLOSE else client.close_code
                return Ending("client", code)

    async def _from_client(self, event: Event, data: bytes) -> Ending | None:
        translator = self.translator
        try:
            if translator is None:
                await self.vendor.send_frame(data, TEXT)
                return None
            try:
                relay = translator.from_client(event)
            except RealtimeError as err:
                return await self._refused(err, event)
            return await self._relay(relay)
        except (ConnectionError, RuntimeError):
            return Ending("vendor", self.vendor.close_code, abnormal=True, weak=True,
                          message="The vendor's realtime connection was lost.")

    async def _refused(self, err: RealtimeError, event: Event) -> Ending | None:
        event_id = err.event_id or (event.get("event_id") if isinstance(event.get("event_id"), str) else None)
        await self._say(err.message, err.code, err.type, event_id)
        if err.close is None:
            return None
        return Ending("translator", err.close, err.message[:123])

    async def _relay(self, relay: Relay) -> Ending | None:
        vendor, client = self.vendor, self.client
        for out in relay.vendor:
            await vendor.send_frame(orjson.dumps(out), TEXT)
        if relay.client:
            on_event = self.on_event
            for out in relay.client:
                if on_event is not None and out.get("type") in ("response.done", "response.created"):
                    on_event(out)
                await client.send_frame(orjson.dumps(out), TEXT)
                self.events_out += 1
        return None

    # ------------------------------------------------------------------ vendor -> client

    async def _vendor_to_client(self) -> Ending:
        vendor, client, translator, on_event = self.vendor, self.client, self.translator, self.on_event
        while True:
            msg = await vendor.receive()
            kind = msg.type
            if kind in _DATA:
                data: bytes | str = msg.data
                try:
                    if translator is None:
                        raw = data if isinstance(data, bytes) else data.encode()
                        if on_event is not None and (_ACCOUNTED[0] in raw[:_HEAD] or _ACCOUNTED[1] in raw[:_HEAD]):
                            _tell(on_event, raw)
                        await client.send_frame(raw, TEXT if kind is TEXT else WSMsgType.BINARY)
                        self.events_out += 1
                        continue
                    try:
                        event = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        await self._say("The vendor sent an event that is not JSON; it was dropped.",
                                        "upstream_malformed", "server_error")
                        continue
                    if not isinstance(event, dict):
                        continue
                    try:
                        relay = translator.from_vendor(event)
                    except RealtimeError as err:
                        ending = await self._refused(err, {})
                        if ending is not None:
                            return ending
                        continue
                    await self._relay(relay)
                except (ConnectionError, RuntimeError):
                    # A send failed: to the client (it left) or, for a translator's reply, to the vendor.
                    if vendor.closed and not client.closed:
                        return Ending("vendor", vendor.close_code, abnormal=True, weak=True,
                                      message="The vendor's realtime connection was lost.")
                    return Ending("client", client.close_code, weak=True)
            elif kind is WSMsgType.CLOSE:
                return Ending("vendor", msg.data, msg.extra or "")
            elif kind in _ENDS:
                code = vendor.close_code
                if code is not None and code not in (1005, 1006):
                    return Ending("vendor", code, "")
                return Ending("vendor", code, "vendor connection lost", abnormal=True,
                              message="The vendor's realtime connection was lost.")


def _tell(on_event: Callable[[Event], None], raw: bytes) -> None:
    try:
        event: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    if isinstance(event, dict) and event.get("type") in ("response.done", "response.created"):
        on_event(event)
