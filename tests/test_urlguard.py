"""Client-named URLs: private and local addresses refused, size and time capped, redirects checked."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from relayport import urlguard
from relayport.config import parse_config
from relayport.model.errors import GatewayError
from relayport.urlguard import FetchPolicy, PublicOnlyResolver, check_url, fetch, new_fetch_session


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://10.1.2.3/", "http://192.168.0.1/", "http://172.16.0.9/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://localhost:9/", "http://a.localhost/",
    "file:///etc/passwd", "ftp://example.com/x", "http:///nohost",
])
def test_refused_before_any_lookup(url):
    with pytest.raises(GatewayError) as err:
        check_url(url, FetchPolicy())
    assert err.value.status == 400 and err.value.code == "invalid_url"


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "http://8.8.8.8/", "https://[2606:4700::1111]/"])
def test_public_urls_pass(url):
    check_url(url, FetchPolicy())


def test_credentials_in_a_url_never_reach_the_message():
    with pytest.raises(GatewayError) as err:
        check_url("http://user:s3cret@127.0.0.1/x?token=abc", FetchPolicy())
    assert "s3cret" not in err.value.message and "abc" not in err.value.message


async def test_resolver_keeps_public_addresses_only(monkeypatch):
    async def fake_resolve(self, host, port=0, family=socket.AF_INET):
        table = {"inside.example": ["127.0.0.1", "10.0.0.2"], "mixed.example": ["10.0.0.2", "93.184.216.34"]}
        return [{"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
                for a in table[host]]

    monkeypatch.setattr(urlguard.DefaultResolver, "resolve", fake_resolve)
    resolver = PublicOnlyResolver()
    with pytest.raises(OSError, match="private or local"):
        await resolver.resolve("inside.example", 80)
    assert [r["host"] for r in await resolver.resolve("mixed.example", 80)] == ["93.184.216.34"]
    await resolver.close()


@pytest.fixture
async def media_server(aiohttp_server):
    async def small(_):
        return web.Response(body=b"x" * 100, content_type="image/png")

    async def big(_):
        return web.Response(body=b"x" * 5000)

    async def chunked(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(10):
            await resp.write(b"y" * 1000)
        return resp

    async def slow(_):
        await asyncio.sleep(2)
        return web.Response(body=b"late")

    async def hop(request):
        raise web.HTTPFound(request.query["to"])

    async def loop(_):
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/small", small)
    app.router.add_get("/big", big)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hop", hop)
    app.router.add_get("/loop", loop)
    return await aiohttp_server(app)


async def _get(url, policy):
    session = new_fetch_session(policy)
    try:
        return await fetch(session, url, policy)
    finally:
        await session.close()


async def test_fetch_within_the_policy(media_server):
    got = await _get(str(media_server.make_url("/small")), FetchPolicy(allow_private=True))
    assert got.body == b"x" * 100 and got.content_type == "image/png"


async def test_loopback_refused_by_default(media_server):
    with pytest.raises(GatewayError, match="private or local"):
        await _get(str(media_server.make_url("/small")), FetchPolicy())


@pytest.mark.parametrize("path", ["/big", "/chunked"])
async def test_size_cap(media_server, path):
    with pytest.raises(GatewayError, match="larger than 2000 bytes"):
        await _get(str(media_server.make_url(path)), FetchPolicy(allow_private=True, max_bytes=2000))


async def test_timeout(media_server):
    with pytest.raises(GatewayError, match="did not answer within 0.3 s"):
        await _get(str(media_server.make_url("/slow")), FetchPolicy(allow_private=True, timeout=0.3))


async def test_every_redirect_is_checked(media_server, monkeypatch):
    # Treat this server's address as public, so only the redirect's target is private.
    monkeypatch.setattr(urlguard, "is_public_address", lambda a: a == "127.0.0.1")
    policy = FetchPolicy()
    target = f"http://127.0.0.2:{media_server.port}/small"
    with pytest.raises(GatewayError, match="private or local"):
        await _get(str(media_server.make_url("/hop").with_query(to=target)), policy)
    ok = str(media_server.make_url("/hop").with_query(to="/small"))
    assert (await _get(ok, policy)).body == b"x" * 100
    with pytest.raises(GatewayError, match="redirects too many times"):
        await _get(str(media_server.make_url("/loop")), policy)


def test_config_table():
    config = parse_config({"fetch": {"allow_private": True, "max_bytes": 10, "timeout": 2}})
    assert config.fetch == FetchPolicy(True, 10, 2.0)
    with pytest.raises(Exception, match="fetch"):
        parse_config({"fetch": {"max_bytes": 0}})
