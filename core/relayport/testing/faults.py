"""A fake OpenAI-compatible vendor that fails on demand, the ways real vendors fail.

    fake = FaultyOpenAI().start()
    fake.inject("503", "reset-after-headers")      # the next two calls fail so, then it answers
    fake.inject_mix(FAULTS, 1000)                   # or a mix, in turn

Each fault is played in the wire format of the call it answers (JSON or SSE). What a gateway
should make of each: the error-status faults, resets, a stall before the first byte and a
stream broken before its first event are failures of the attempt (another deployment may
serve the call); a stream broken after events went out must end with a clean error event;
`slow-drip` is a success that takes its time. "refused" is not something a live server can
play: point a deployment at `refused_url()` instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply, openai_error
from relayport.testing.servers import closed_port

FAULTS = (
    "500", "502", "503", "529", "429-retry-after", "429-retry-after-ms",
    "reset-before-headers", "reset-after-headers", "stall", "malformed-sse", "truncated-json",
    "truncated-stream", "slow-drip",
)
# Faults that happen before a client could have seen a byte: a gateway can always recover.
BEFORE_FIRST_BYTE = (
    "500", "502", "503", "529", "429-retry-after", "429-retry-after-ms",
    "reset-before-headers", "reset-after-headers", "stall", "malformed-sse", "truncated-json",
)


def refused_url() -> str:
    """A base URL nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{closed_port()}/v1"


class FaultyOpenAI(FakeOpenAI):
    """`FakeOpenAI` that plays the queued faults first (one per call), then answers normally.

    :param stall: seconds a "stall" waits before it gives up (longer than the gateway's
        timeouts under test).
    :param drip: seconds between the pieces of a "slow-drip" answer.
    """

    def __init__(self, *args: Any, stall: float = 3600.0, drip: float = 0.05, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faults: deque[str] = deque()
        self.played: list[str] = []
        self.stall = stall
        self.drip = drip

    def inject(self, *names: str) -> None:
        for name in names:
            if name not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; one of {', '.join(FAULTS)}")
        self.faults.extend(names)

    def inject_mix(self, names: Iterable[str], count: int) -> None:
        """`count` faults taking `names` in turn."""
        cycle = list(names)
        self.inject(*(cycle[i % len(cycle)] for i in range(count)))

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if not self.faults or not rec.path.endswith("/chat/completions"):
            return await super()._answer(request, rec)
        name = self.faults.popleft()
        self.played.append(name)
        body = orjson.loads(rec.body)
        return await self._play_fault(request, name, body)

    def _ok(self, body: dict[str, Any]) -> Reply:
        turn = self._echo(body)
        if body.get("stream"):
            return self._stream_reply(body, turn)
        return Reply.json(self._completion(body, turn))

    async def _play_fault(self, request: web.Request, name: str, body: dict[str, Any]) -> web.StreamResponse:
        stream = bool(body.get("stream"))
        if name in ("500", "502", "503"):
            return await self.play(request, openai_error(int(name), "The server had an error.", "server_error"))
        if name == "529":  # Anthropic's overload, as OpenAI-format vendors behind it pass it on
            return await self.play(request, Reply.json(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529))
        if name.startswith("429"):
            wait = {"retry-after-ms": "20"} if name.endswith("-ms") else {"retry-after": "1"}
            return await self.play(request, Reply.json(openai_error(
                429, "Rate limit reached.", "requests", "rate_limit_exceeded").body, 429, wait))
        if name == "reset-before-headers":
            return await self.play(request, Reply(reset=True))
        if name == "stall":
            await asyncio.sleep(self.stall)
            return await self.play(request, openai_error(504, "stalled"))
        ok = self._ok(body)
        if name == "reset-after-headers":
            if stream:
                ok.drop_after = 0
                return await self.play(request, ok)
            return await _cut(request, orjson.dumps(ok.body), 0)
        if name == "malformed-sse" and stream:
            assert ok.events is not None
            ok.events[0] = b'data: {"id": "chatcmpl-x", "choices": [{"delta": {"content": \n\n'
            return await self.play(request, ok)
        if name in ("truncated-json", "malformed-sse"):
            if stream:  # the vendor ends the response in the middle of its first event
                assert ok.events is not None
                return await self.play(request, Reply.sse([ok.events[0][:25]]))
            raw = orjson.dumps(ok.body)
            return await self.play(request, Reply(body=raw[: len(raw) // 2]))
        if name == "truncated-stream":
            if not stream:
                raw = orjson.dumps(ok.body)
                return await self.play(request, Reply(body=raw[: len(raw) // 2]))
            assert ok.events is not None
            ok.events = [*ok.events[:2], ok.events[2][:25]]
            return await self.play(request, ok)
        assert name == "slow-drip"
        if stream:
            ok.delay = self.drip
            return await self.play(request, ok)
        return await _drip(request, orjson.dumps(ok.body), self.drip)


async def _cut(request: web.Request, body: bytes, keep: int) -> web.StreamResponse:
    """Headers announcing the whole body, `keep` bytes of it, then the connection drops."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
    await resp.prepare(request)
    if keep:
        await resp.write(body[:keep])
    assert request.transport is not None
    request.transport.abort()
    return resp


async def _drip(request: web.Request, body: bytes, gap: float) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    step = max(1, len(body) // 8)
    for i in range(0, len(body), step):
        await asyncio.sleep(gap)
        await resp.write(body[i:i + step])
    await resp.write_eof()
    return resp
