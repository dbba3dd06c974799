"""A lean HTTP/1.1 client for vendor calls: pooled keep-alive connections, llhttp parsing.

aiohttp's `ClientSession.request` costs about 85 us of CPU per streamed call (request and
response objects, URL handling, cookie, trace and timer set-up); sending the same request and
reading the same stream over a bare asyncio protocol costs about 36 us (measured against the
bench mock, `process_time` per call at c=32). On a translated stream that is a tenth of the
gateway's whole cost per call. This client does only what vendor calls need: one request line
and headers written at once, the answer parsed by llhttp (`httptools`), the body handed over
as it arrives, and three timers folded into one (first byte, idle gap, total).

Its answer speaks the part of `aiohttp.ClientResponse` the gateway uses (`status`, `headers`,
`content_type`, `content_length`, `url`, `read`, `release`, `close`, and `content` with
`readany`/`iter_any`/`iter_chunked`/`at_eof`), and its errors are aiohttp's (a connection that
drops is `ServerDisconnectedError` or `ClientPayloadError`, a timer that fires
`ServerTimeoutError`), so every caller handles both clients alike. `relayport.upstream` picks
it for plain and TLS connections without a proxy when `httptools` is installed
(`relayport[fast]`); anything else goes through aiohttp.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from relayport import __version__

# Idle connections are closed after this long (vendors' own keep-alive is usually 60 s or more,
# so the gateway lets go first and never writes to a connection the vendor is closing).
KEEPALIVE = 30.0
# A body buffered past this many bytes pauses reading until the caller takes some.
HIGH_WATER = 1 << 18
_USER_AGENT = f"relayport/{__version__}"


class _Origin:
    """What a URL's connection needs, worked out once per URL string."""

    __slots__ = ("key", "host", "port", "ssl", "host_header", "target", "url")

    def __init__(self, url: str) -> None:
        u = URL(url)
        if u.scheme not in ("http", "https") or not u.host:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = u
        self.host = u.raw_host or u.host
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl = u.scheme == "https"
        self.key = (self.host, self.port, self.ssl)
        default = 443 if self.ssl else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if self.port == default else f"{host}:{self.port}"
        self.target = u.raw_path_qs or "/"


@functools.lru_cache(maxsize=1024)
def origin(url: str) -> _Origin:
    return _Origin(url)


def eligible(url: str) -> bool:
    """Whether this client can send to `url` (http or https with a host)."""
    try:
        origin(url)
    except ValueError:
        return False
    return True


class Pool:
    """Idle keep-alive connections per (host, port, tls)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        # The system's trusted CAs with hostname checks, made at the first TLS connection.
        self._ssl = ssl_context
        self.closed = False

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                      connect: float | None, first_byte: float | None, total: float | None) -> Response:
        """Send one request and wait for the answer's headers (the body follows as it comes)."""
        o = origin(url)
        head = _head(method, o, headers, body)
        loop = asyncio.get_running_loop()
        started = loop.time()
        conn = self._take(o.key, loop.time())
        if conn is None:
            conn = await self._connect(o, connect)
        deadline = started + total if total else None
        return await conn.send(head, body, o, first_byte, deadline)

    def _take(self, key: tuple[str, int, bool], now: float) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.lost and now - conn.idle_since < KEEPALIVE:
                return conn
            conn.abort()
        return None

    async def _connect(self, o: _Origin, timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, o.key), o.host, o.port,
                    ssl=self._context() if o.ssl else None, server_hostname=o.host if o.ssl else None)
        except TimeoutError:
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {o.url.origin()}") from None
        except OSError as exc:
            raise aiohttp.ClientConnectionError(f"Cannot connect to host {o.host}:{o.port} "
                                                f"({type(exc).__name__})") from exc
        return conn

    def give_back(self, conn: _Connection) -> None:
        if self.closed or conn.lost:
            conn.abort()
            return
        conn.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(conn.key, []).append(conn)

    def close(self) -> None:
        self.closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()


def _head(method: str, o: _Origin, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {o.target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    # What the caller did not set itself (a request signer may have set Host, say).
    named = {name.lower() for name in headers}
    if "host" not in named:
        lines.append(f"Host: {o.host_header}")
    if "user-agent" not in named:
        lines.append(f"User-Agent: {_USER_AGENT}")
    if "content-length" not in named and (body is not None or method in ("POST", "PUT", "PATCH")):
        lines.append(f"Content-Length: {len(body) if body is not None else 0}")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1
    if text.count("\n") != breaks or text.count("\r") != breaks:
        # A header value with a line break would smuggle a second request onto the connection.
        raise ValueError("a header name or value contains a line break")
    return (text + "\r\n\r\n").encode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection and the answer being read on it."""

    def __init__(self, pool: Pool, key: tuple[str, int, bool]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self.response: Response | None = None
        self._parser: Any = None
        self._headers: list[tuple[str, str]] = []
        self._waiter: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.response
        if resp is None:  # bytes on an idle connection: it cannot be reused
            self.abort()
            return
        resp._last_read = resp._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(aiohttp.ClientPayloadError("the vendor switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(aiohttp.ClientPayloadError(f"the vendor's answer is not valid HTTP ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        resp = self.response
        if resp is None or resp._done:
            return
        if resp.status and resp._until_close:
            self.on_message_complete()  # a body without length ends with the connection
        elif resp.status:
            self._fail(aiohttp.ClientPayloadError("Response payload is not completed"))
        else:
            self._fail(aiohttp.ServerDisconnectedError())

    # ------------------------------------------------------------------ llhttp callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        resp = self.response
        assert resp is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._headers = []
            resp._interim = True
            return
        resp.status = status
        resp.headers = CIMultiDictProxy(CIMultiDict(self._headers))
        resp._keep_alive = self._parser.should_keep_alive()
        resp._until_close = ("content-length" not in resp.headers and "transfer-encoding" not in resp.headers
                             and status not in (204, 304))
        encoding = resp.headers.get("Content-Encoding", "").lower()
        if encoding in ("gzip", "deflate"):
            # Not asked for (no Accept-Encoding is sent), but some servers compress anyway:
            # the body is handed on decompressed, as aiohttp does.
            resp._decoder = zlib.decompressobj(wbits=47)  # gzip or zlib header, found by zlib
        self._wake()

    def on_body(self, body: bytes) -> None:
        resp = self.response
        assert resp is not None
        if resp._idle_later is not False:
            resp._wait_limit, resp._idle_later = resp._idle_later, False  # type: ignore[assignment]
            resp._rearm()
        if resp._decoder is not None:
            try:
                body = resp._decoder.decompress(body)
            except zlib.error:
                self._fail(aiohttp.ClientPayloadError("the vendor's compressed answer is corrupt"))
                return
        resp._buffer.append(body)
        resp._buffered += len(body)
        resp.total_bytes += len(body)
        if resp._buffered > HIGH_WATER and not resp._paused and self.transport is not None:
            resp._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        resp = self.response
        assert resp is not None
        if resp._interim:
            resp._interim = False
            return
        resp._done = True
        resp._stop_timer()
        self._wake()

    # ------------------------------------------------------------------ the exchange

    async def send(self, head: bytes, body: bytes | None, o: _Origin, first_byte: float | None,
                   deadline: float | None) -> Response:
        resp = Response(self, o.url, first_byte, deadline)
        self.response = resp
        self._headers = []
        self._parser = httptools.HttpResponseParser(self)
        transport = self.transport
        assert transport is not None
        if self.lost:
            raise aiohttp.ServerDisconnectedError()
        transport.write(head + body if body else head)
        resp._arm()
        try:
            while not resp.status and resp._error is None:
                await self._wait()
        except BaseException:  # cancelled (the client left): nobody will read this answer
            resp.close()
            raise
        if resp._error is not None:  # `_fail` closed the connection
            raise resp._error
        return resp

    async def _wait(self) -> None:
        self._waiter = fut = asyncio.get_running_loop().create_future()
        try:
            await fut
        finally:
            self._waiter = None

    def _wake(self) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        resp = self.response
        if resp is not None and resp._error is None and not resp._done:
            resp._error = exc
            resp._stop_timer()
        self.abort()
        self._wake()

    def abort(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()

    def done_with(self, resp: Response) -> None:
        """The caller let go of `resp`: keep the connection for the next call when the answer
        was read to its end and both sides keep it open; close it otherwise."""
        if self.response is not resp:
            return
        self.response = None
        self._parser = None
        if resp._done and resp._keep_alive and not self.lost and resp._error is None:
            if resp._paused and self.transport is not None:
                self.transport.resume_reading()
            self.pool.give_back(self)
        else:
            self.abort()


class Response:
    """An answer being read: aiohttp's `ClientResponse` surface that the gateway uses, and its
    own body stream (`content` is the response itself)."""

    def __init__(self, conn: _Connection, url: URL, first_byte: float | None, deadline: float | None) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self.url = url
        self.status = 0
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
        self.total_bytes = 0
        self._buffer: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._done = False
        self._interim = False
        self._keep_alive = False
        self._until_close = False
        self._error: BaseException | None = None
        self._body: bytes | None = None
        self._released = False
        # One timer for three limits: `_wait_limit` between reads (first byte, then the idle
        # gap) and the total deadline. A read only stamps `_last_read`; the timer, when it
        # fires, checks the stamps and re-arms itself for what is left.
        self._wait_limit = first_byte
        self._deadline = deadline
        self._last_read = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._idle_later: float | None | bool = False  # set_idle's limit, once body bytes come
        self._decoder: Any = None  # a zlib decompressor when the vendor compressed the body

    # ------------------------------------------------------------------ timers

    def _arm(self) -> None:
        due = self._due()
        if due is not None:
            self._timer = self._loop.call_at(due, self._check)

    def _due(self) -> float | None:
        read_due = self._last_read + self._wait_limit if self._wait_limit else None
        if read_due is None:
            return self._deadline
        return read_due if self._deadline is None else min(read_due, self._deadline)

    def _check(self) -> None:
        self._timer = None
        if self._done or self._error is not None:
            return
        due = self._due()
        if due is not None and due <= self._loop.time():
            self._conn._fail(aiohttp.ServerTimeoutError("Timeout on reading data from socket"))
            return
        self._arm()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def set_idle(self, idle: float | None) -> None:
        """After the first body bytes, each read may wait `idle` seconds (a stream's gap); the
        first bytes themselves are still under the first-byte wait."""
        if self.total_bytes:
            self._wait_limit = idle
            self._last_read = self._loop.time()
            self._rearm()
        else:
            self._idle_later = idle

    def _rearm(self) -> None:
        """The limit changed: the timer armed for the old one may fire too late."""
        if not self._done and self._error is None:
            self._stop_timer()
            self._arm()

    # ------------------------------------------------------------------ aiohttp's surface

    @property
    def content(self) -> Response:
        return self

    @property
    def content_type(self) -> str:
        raw = self.headers.get("Content-Type")
        if not raw:
            return "application/octet-stream"
        return raw.split(";", 1)[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        return int(raw) if raw is not None and raw.isdigit() else None

    async def readany(self) -> bytes:
        """What has come since the last read (waiting for something); b"" at the end."""
        while True:
            buffer = self._buffer
            if buffer:
                data = buffer.popleft() if len(buffer) == 1 else b"".join(buffer)
                buffer.clear()
                self._buffered = 0
                if self._paused:
                    self._paused = False
                    transport = self._conn.transport
                    if transport is not None and not self._conn.lost:
                        transport.resume_reading()
                return data
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            await self._conn._wait()

    async def iter_any(self) -> AsyncIterator[bytes]:
        while data := await self.readany():
            yield data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        while data := await self.readany():
            for i in range(0, len(data), n):
                yield data[i:i + n]

    def at_eof(self) -> bool:
        return self._done and not self._buffer

    def is_eof(self) -> bool:
        return self._done

    async def read(self) -> bytes:
        if self._body is None:
            parts = []
            while data := await self.readany():
                parts.append(data)
            self._body = b"".join(parts)
        return self._body

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._stop_timer()
            self._conn.done_with(self)

    def close(self) -> None:
        # `release` already closes the connection of an answer not read to its end (the vendor
        # stops generating); one read to its end has nothing left to stop and stays pooled.
        self.release()
