"""Small aiohttp client side of the bench: one-off checks and the TTFB series."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import aiohttp

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


class BadAnswer(RuntimeError):
    pass


async def fetch(ep: Endpoint) -> Answer:
    async with (
        aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as s,
        s.post(ep.url, data=ep.body, headers=ep.headers) as r,
    ):
        return Answer(r.status, r.headers.get("Content-Type", ""), await r.read())


async def get_json(url: str) -> object:
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as s, s.get(url) as r:
        return await r.json()


async def post_json(url: str, payload: dict[str, object]) -> object:
    async with (
        aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as s,
        s.post(url, json=payload) as r,
    ):
        return await r.json()


async def _ttfb_once(session: aiohttp.ClientSession, ep: Endpoint) -> float:
    """ms from sending the request to the first body bytes of the stream."""
    t0 = time.perf_counter()
    async with session.post(ep.url, data=ep.body, headers=ep.headers) as r:
        if r.status != 200:
            body = await r.read()
            raise BadAnswer(f"{ep.name}: HTTP {r.status}: {body[:500]!r}")
        first = await r.content.readany()
        t1 = time.perf_counter()
        if not first:
            raise BadAnswer(f"{ep.name}: empty stream")
        await r.content.read()  # drain so the connection is reused
    return (t1 - t0) * 1000.0


@dataclass
class TtfbResult:
    forwarder_ms: float  # median
    gateway_ms: float  # median
    added_ms: float  # median of paired differences gateway - forwarder
    samples: int


async def ttfb_pair(forwarder: Endpoint, gateway: Endpoint, n: int, warmup: int = 3) -> TtfbResult:
    """n sequential requests to each, alternating (and swapping who goes first
    every round) so that slow drift on the machine hits both sides alike."""
    fwd_conn = aiohttp.TCPConnector(limit=1)
    gw_conn = aiohttp.TCPConnector(limit=1)
    async with (
        aiohttp.ClientSession(connector=fwd_conn, timeout=REQUEST_TIMEOUT) as fs,
        aiohttp.ClientSession(connector=gw_conn, timeout=REQUEST_TIMEOUT) as gs,
    ):
        for _ in range(warmup):
            await _ttfb_once(fs, forwarder)
            await _ttfb_once(gs, gateway)
        f_ms: list[float] = []
        g_ms: list[float] = []
        for i in range(n):
            if i % 2 == 0:
                f_ms.append(await _ttfb_once(fs, forwarder))
                g_ms.append(await _ttfb_once(gs, gateway))
            else:
                g_ms.append(await _ttfb_once(gs, gateway))
                f_ms.append(await _ttfb_once(fs, forwarder))
    return TtfbResult(
        forwarder_ms=statistics.median(f_ms),
        gateway_ms=statistics.median(g_ms),
        added_ms=statistics.median([g - f for g, f in zip(g_ms, f_ms, strict=True)]),
        samples=n,
    )
