"""The shared aiohttp ClientSession and the one place that sends requests to vendors."""

from __future__ import annotations

import asyncio
import functools
import os
import time
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping
from types import TracebackType

import aiohttp
import orjson
from yarl import URL

from relayport import credentials
from relayport.calltime import clock
from relayport.model.errors import GatewayError
from relayport.model.http import REDIRECT_STATUSES, UpstreamRequest
from relayport.provider import Deployment, Timeouts

try:  # the lean client needs httptools (relayport[fast])
    from relayport import h1
    from relayport.h1 import Response as _LeanResponse
except ImportError:  # pragma: no cover - without the extra every call goes through aiohttp
    h1 = None  # type: ignore[assignment]
    _LeanResponse = ()  # type: ignore[assignment,misc]


def env_proxy(url: str) -> str | None:
    """The proxy HTTPS_PROXY/HTTP_PROXY/ALL_PROXY/NO_PROXY choose for `url`, or None.

    Read once per deployment, not per call: aiohttp's `trust_env` looks the environment (and
    ~/.netrc) up in a worker thread on every request, which costs a loop round trip each time.
    """
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not proxies or bypass(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def new_session() -> aiohttp.ClientSession:
    """One pooled session for every vendor call (proxies come per deployment: `env_proxy`).

    With `httptools` installed (`relayport[fast]`), calls without a proxy go through the lean
    client of `relayport.h1` instead, its connections pooled beside the session's (see
    `close_session`); `RELAYPORT_UPSTREAM_CLIENT=aiohttp` keeps every call on aiohttp.
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30)
    session = aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        json_serialize=lambda o: orjson.dumps(o).decode(),
        # Vendor bodies are forwarded as they arrive; no cookie jar state between clients.
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    if h1 is not None and os.environ.get("RELAYPORT_UPSTREAM_CLIENT", "").lower() != "aiohttp":
        _lean[session] = h1.Pool()
    return session


async def close_session(session: aiohttp.ClientSession) -> None:
    """Close the session and the lean client's connections made for it."""
    pool = _lean.pop(session, None)
    if pool is not None:
        pool.close()
    await session.close()


# The lean client's connection pool of each session `new_session` made (none without httptools).
_lean: weakref.WeakKeyDictionary[aiohttp.ClientSession, h1.Pool] = weakref.WeakKeyDictionary()
# Methods whose answers have a body to read (a HEAD answer has none, whatever it says).
_LEAN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@functools.lru_cache(maxsize=256)
def _timeout(t: Timeouts) -> aiohttp.ClientTimeout:
    # The read timeout starts as the wait for the first byte (a non-streaming answer comes all
    # at once after the model finished); a stream then gets the idle gap (`_request`).
    return aiohttp.ClientTimeout(total=t.total, sock_connect=t.connect, sock_read=t.first_byte)


def send(session: aiohttp.ClientSession, dep: Deployment, req: UpstreamRequest) -> UpstreamCall:
    """`async with send(...) as resp`: send `req`, get the response once its headers arrived.

    Connection failures become 502 and timeouts 504 (both retryable). Leaving the context
    releases the connection; leaving it early (client gone, error) closes it, so the vendor
    stops generating for nobody.
    """
    return UpstreamCall(session, dep, req)


class UpstreamCall:
    """The context manager `send` returns (a class, not a generator-based one: this runs for
    every call, and an async generator costs a good deal more to set up and tear down)."""

    __slots__ = ("_session", "_dep", "_req", "_resp")

    def __init__(self, session: aiohttp.ClientSession, dep: Deployment, req: UpstreamRequest) -> None:
        self._session = session
        self._dep = dep
        self._req = req
        self._resp: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        req, dep = self._req, self._dep
        data = req.body if req.body is not None else (orjson.dumps(req.json) if req.json is not None else None)
        spec = dep.provider
        if spec.credentials is None and spec.signer is None:
            self._resp = await self._request(req.headers, data)
            return self._resp
        cache = credentials.cache_for(dep)
        cred = await cache.get() if cache is not None else None
        resp = await self._request(self._authorize(cred, data), data)
        if resp.status == 401 and cache is not None:
            # The vendor no longer takes the credential (revoked, rotated, clock skew): one
            # refresh, shared with every call it rejected, and one more try.
            await _drain(resp)
            cred = await cache.refresh(cred)
            resp = await self._request(self._authorize(cred, data), data)
        self._resp = resp
        return resp

    def _authorize(self, cred: credentials.Credential | None, data: bytes | None) -> dict[str, str]:
        req, dep = self._req, self._dep
        headers = {**req.headers, **cred.headers} if cred is not None else dict(req.headers)
        signer = dep.provider.signer
        if signer is not None:
            try:
                signer(dep, credentials.OutgoingRequest(req.method, req.url, headers, data, cred))
            except GatewayError:
                raise
            except Exception as exc:  # a plugin bug must reach the client as an error, not a traceback
                raise GatewayError(500, f"{dep.provider.name}: signing the request failed "
                                   f"({type(exc).__name__}).", code="upstream_signing") from None
        return headers

    async def _request(self, headers: Mapping[str, str], data: bytes | None) -> aiohttp.ClientResponse:
        req, dep = self._req, self._dep
        started = time.perf_counter()
        try:
            pool = _lean.get(self._session) if dep.proxy is None and req.method in _LEAN_METHODS else None
            resp: aiohttp.ClientResponse
            if pool is not None and h1.eligible(req.url):
                t = dep.timeouts
                # Typed as aiohttp's: it speaks the part of ClientResponse every caller uses.
                resp = await pool.request(  # type: ignore[assignment]
                    req.method, req.url, headers, data, t.connect, t.first_byte, t.total)
            else:
                resp = await self._session.request(
                    req.method, req.url, data=data, headers=headers,
                    timeout=_timeout(dep.timeouts), proxy=dep.proxy, allow_redirects=False,
                )
            if resp.status in REDIRECT_STATUSES:
                resp = await self._follow(resp, headers, data)
            if req.stream:
                _idle_reads(resp, dep.timeouts.idle)
            return resp
        except TimeoutError:
            raise _timed_out(dep) from None
        except aiohttp.ClientError as exc:
            raise _unreachable(dep, exc) from None
        finally:
            if (c := clock.get()) is not None:
                c.upstream += time.perf_counter() - started

    async def _follow(self, resp: aiohttp.ClientResponse, headers: Mapping[str, str],
                      data: bytes | None) -> aiohttp.ClientResponse:
        """Follow a vendor's redirects ourselves: aiohttp drops only `Authorization` when one
        leads to another host, and vendors' keys ride in their own headers (`x-goog-api-key`,
        `x-api-key`, `api-key`...). Leaving the vendor's origin, only harmless headers go on
        (Veo's result download redirects to a storage host)."""
        req, dep = self._req, self._dep
        method = req.method
        for _ in range(_MAX_REDIRECTS):
            location = resp.headers.get("Location")
            if resp.status not in REDIRECT_STATUSES or not location:
                return resp
            target = resp.url.join(URL(location))
            resp.release()
            if resp.status == 303 or (resp.status in (301, 302) and method not in ("GET", "HEAD")):
                method, data = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if target.origin() != resp.url.origin():
                headers = {k: v for k, v in headers.items() if k.lower() in _KEPT_ACROSS_ORIGINS}
            resp = await self._session.request(method, target, data=data, headers=headers,
                                               timeout=_timeout(dep.timeouts), proxy=dep.proxy,
                                               allow_redirects=False)
        resp.release()
        raise GatewayError(502, f"{dep.provider.name}: the vendor redirected too many times.",
                           code="upstream_redirects")

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        resp = self._resp
        if resp is None:
            return
        if exc_type is not None:
            resp.close()
        resp.release()


def _idle_reads(resp: aiohttp.ClientResponse, idle: float) -> None:
    """A stream's reads after its first bytes may each wait `idle` seconds; the first-byte wait
    covers its headers and first bytes. Set on the connection's protocol, which re-arms its
    read timer with it at every read: no timer of our own per call."""
    if isinstance(resp, _LeanResponse):
        resp.set_idle(idle)
        return
    conn = resp.connection
    protocol = conn.protocol if conn is not None else None
    if protocol is None:
        return
    protocol.read_timeout = idle
    content = resp.content
    if content.total_bytes and not content.is_eof():
        # The first bytes came with the headers, under the timer armed for the first byte:
        # the wait for the next ones is the idle gap. (At the end of the body the protocol has
        # dropped its timer; re-arming then would fire on a pooled connection.)
        protocol.start_timeout()


_MAX_REDIRECTS = 10
# What may follow a redirect to another host: nothing that could carry a credential.
_KEPT_ACROSS_ORIGINS = frozenset({"accept", "accept-encoding", "accept-language", "user-agent", "range",
                                  "content-type"})


def _timed_out(dep: Deployment) -> GatewayError:
    return GatewayError(504, f"{dep.provider.name}: the vendor did not answer in time.",
                        code="upstream_timeout", retryable=True)


def _unreachable(dep: Deployment, exc: BaseException) -> GatewayError:
    # The exception text may name the host, never the key; keep it short for the client.
    return GatewayError(502, f"{dep.provider.name}: cannot reach the vendor ({type(exc).__name__}).",
                        code="upstream_unreachable", retryable=True)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read a small answer we discard, so its connection can be reused."""
    try:
        async with asyncio.timeout(5):
            await resp.read()
    except (TimeoutError, aiohttp.ClientError):
        resp.close()
    resp.release()


# `[server] max_response_bytes`'s default.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


async def read_body(dep: Deployment, resp: aiohttp.ClientResponse, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The whole answer, unless it is larger than `limit` bytes (then a 502)."""
    started = time.perf_counter()
    try:
        length = resp.content_length
        if length is not None and length <= limit:
            return await resp.read()
        return await _read_capped(dep, resp, limit)
    except TimeoutError:
        raise _timed_out(dep) from None
    except aiohttp.ClientError as exc:
        raise _unreachable(dep, exc) from None
    finally:
        if (c := clock.get()) is not None:
            c.upstream += time.perf_counter() - started


async def _read_capped(dep: Deployment, resp: aiohttp.ClientResponse, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    if (resp.content_length or 0) <= limit:  # no length given: count as it comes
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                break
            parts.append(chunk)
        else:
            return b"".join(parts)
    resp.close()  # a vendor sending more than we keep: stop it, nobody reads the rest
    raise GatewayError(502, f"{dep.provider.name}: the vendor's answer is larger than this gateway "
                       f"accepts (server.max_response_bytes = {limit}).",
                       code="upstream_response_too_large")


timed_out = _timed_out
unreachable = _unreachable


async def finish_body(resp: aiohttp.ClientResponse, wait: float = 1.0) -> None:
    """Read what is left of a response whose content we are done with (typically just the
    terminating chunk), so the connection goes back to the pool instead of being closed:
    a new connection per call costs a TCP handshake on the next call's first byte."""
    if resp.content.at_eof():
        return
    try:
        async with asyncio.timeout(wait):
            while await resp.content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError):
        resp.close()

