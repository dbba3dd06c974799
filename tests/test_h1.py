"""The lean upstream client (relayport.h1) against a raw server that writes exact bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from relayport import h1


class RawServer:
    """Answers each request with what `script` writes; counts connections and requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.script: Callable[[asyncio.StreamWriter, int], object] = lambda w, n: None
        self.url = ""
        self.reader: asyncio.StreamReader | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.reader = reader  # the latest connection's, for a script that reads on
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                done = self.script(writer, len(self.requests))
                if asyncio.iscoroutine(done):
                    await done
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    srv = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/v1/chat/completions?x=1"
    yield server
    srv.close()


@pytest.fixture
async def pool() -> AsyncIterator[h1.Pool]:
    p = h1.Pool()
    yield p
    p.close()


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_sends_one_request_and_reuses_the_connection(raw: RawServer, pool: h1.Pool) -> None:
    raw.script = lambda w, n: w.write(ok(b'{"n":%d}' % n))
    for n in (1, 2, 3):
        resp = await pool.request("POST", raw.url, {"Authorization": "Bearer k", "Content-Type": "application/json"},
                                  b'{"a":1}', 5, 5, 30)
        assert resp.status == 200 and resp.content_type == "application/json" and resp.content_length == 7
        assert await resp.read() == b'{"n":%d}' % n
        resp.release()
    assert raw.connections == 1
    head, _, body = raw.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions?x=1 HTTP/1.1"
    assert b"Authorization: Bearer k" in lines and b"Content-Length: 7" in lines
    assert any(line.startswith(b"Host: 127.0.0.1:") for line in lines) and body == b'{"a":1}'


async def test_a_chunked_stream_arrives_as_it_is_written(raw: RawServer, pool: h1.Pool) -> None:
    go_on = asyncio.Event()

    async def stream(w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"b\r\ndata: one\n\n\r\n")
        await w.drain()
        await go_on.wait()
        w.write(b"b\r\ndata: two\n\n\r\n0\r\n\r\n")

    raw.script = stream
    resp = await pool.request("POST", raw.url, {}, b"{}", 5, 5, 30)
    assert resp.content_type == "text/event-stream"
    assert await resp.content.readany() == b"data: one\n\n"  # before the rest was written
    go_on.set()
    assert await resp.content.readany() == b"data: two\n\n"
    assert await resp.content.readany() == b"" and resp.content.at_eof()
    resp.release()


async def test_a_body_without_length_ends_with_the_connection(raw: RawServer, pool: h1.Pool) -> None:
    def until_close(w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        w.close()

    raw.script = until_close
    resp = await pool.request("GET", raw.url, {}, None, 5, 5, 30)
    assert await resp.read() == b"all of it"
    resp.release()


async def test_an_interim_answer_is_skipped(raw: RawServer, pool: h1.Pool) -> None:
    raw.script = lambda w, n: w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok(b"{}"))
    resp = await pool.request("POST", raw.url, {}, b"{}", 5, 5, 30)
    assert resp.status == 200 and "Link" not in resp.headers and await resp.read() == b"{}"
    resp.release()


async def test_a_vendor_that_drops_the_connection(raw: RawServer, pool: h1.Pool) -> None:
    def cut(w: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            w.close()  # before any answer
        else:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            w.close()

    raw.script = cut
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pool.request("POST", raw.url, {}, b"{}", 5, 5, 30)
    resp = await pool.request("POST", raw.url, {}, b"{}", 5, 5, 30)
    assert await resp.content.readany() == b"partial"
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.content.readany()
    resp.close()


async def test_timers_first_byte_and_idle_gap(raw: RawServer, pool: h1.Pool) -> None:
    async def slow(w: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await asyncio.sleep(1)  # no answer within the first-byte wait
            return
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
        await w.drain()
        await asyncio.sleep(1)  # then quiet for longer than the idle gap

    raw.script = slow
    with pytest.raises(TimeoutError):
        await pool.request("POST", raw.url, {}, b"{}", 5, 0.2, 30)
    resp = await pool.request("POST", raw.url, {}, b"{}", 5, 5, 30)
    resp.set_idle(0.2)
    assert await resp.content.readany() == b"hi"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(aiohttp.ServerTimeoutError):
        await resp.content.readany()
    assert loop.time() - started < 0.8
    resp.close()


async def test_a_connection_the_vendor_closed_while_idle_is_not_reused(raw: RawServer, pool: h1.Pool) -> None:
    def once(w: asyncio.StreamWriter, n: int) -> None:
        w.write(ok(b"{}"))
        w.close()  # keeps nothing alive, without saying so

    raw.script = once
    for _ in range(2):
        resp = await pool.request("POST", raw.url, {}, b"{}", 5, 5, 30)
        assert await resp.read() == b"{}"
        resp.release()
        await asyncio.sleep(0.05)  # the close reaches the client
    assert raw.connections == 2


async def test_a_line_break_in_a_header_is_refused(raw: RawServer, pool: h1.Pool) -> None:
    with pytest.raises(ValueError, match="line break"):
        await pool.request("POST", raw.url, {"X-Evil": "a\r\nGET /admin HTTP/1.1"}, b"{}", 5, 5, 30)
    assert raw.requests == []


async def test_a_large_body_is_read_whole_with_reading_paused_between(raw: RawServer, pool: h1.Pool) -> None:
    big = b"x" * (h1.HIGH_WATER * 4)
    raw.script = lambda w, n: w.write(ok(big))
    resp = await pool.request("GET", raw.url, {}, None, 5, 5, 30)
    await asyncio.sleep(0.1)  # let it buffer past the high-water mark
    assert resp._paused
    assert await resp.read() == big
    resp.release()


async def test_a_call_cancelled_before_its_answer_closes_the_connection(raw: RawServer, pool: h1.Pool) -> None:
    closed = asyncio.Event()

    async def never(w: asyncio.StreamWriter, n: int) -> None:
        assert raw.reader is not None
        await raw.reader.read()  # until the client closes
        closed.set()

    raw.script = never
    call = asyncio.create_task(pool.request("POST", raw.url, {}, b"{}", 5, 5, 30))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.wait_for(closed.wait(), 2)  # the vendor learns nobody is waiting


async def test_a_compressed_body_is_handed_on_decompressed(raw: RawServer, pool: h1.Pool) -> None:
    import gzip

    packed = gzip.compress(b'{"answer": "plain"}')
    raw.script = lambda w, n: w.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                                      % (len(packed), packed))
    resp = await pool.request("POST", raw.url, {}, b"{}", 5, 5, 30)
    assert await resp.read() == b'{"answer": "plain"}'
    resp.release()


async def test_tls_with_the_hostname_checked(pool: h1.Pool) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    raw = RawServer()
    raw.script = lambda w, n: w.write(ok(b'{"tls":%d}' % n))
    srv = await asyncio.start_server(raw.serve, "127.0.0.1", 0, ssl=server_ctx)
    port = srv.sockets[0].getsockname()[1]
    trusting = h1.Pool(ssl_context=client_ctx)
    try:
        for n in (1, 2):
            resp = await trusting.request("POST", f"https://localhost:{port}/v1/x", {}, b"{}", 5, 5, 30)
            assert await resp.read() == b'{"tls":%d}' % n
            resp.release()
        assert raw.connections == 1  # kept alive over TLS too
        assert b"Host: localhost:%d" % port in raw.requests[0]
        # The certificate names localhost, not 127.0.0.1; and the system's CAs do not know it.
        for client, url in ((trusting, f"https://127.0.0.1:{port}/v1/x"), (pool, f"https://localhost:{port}/v1/x")):
            with pytest.raises(aiohttp.ClientConnectionError):
                await client.request("POST", url, {}, b"{}", 5, 5, 30)
    finally:
        trusting.close()
        srv.close()
