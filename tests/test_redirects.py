"""Vendor redirects: followed, and a vendor key never follows one to another host (aiohttp
itself drops only `Authorization`; vendors' keys ride in `x-goog-api-key`, `x-api-key`...)."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from relayport import upstream
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest
from relayport.provider import Deployment, ProviderSpec
from relayport.secrets import Secret
from relayport.testing.fakes import FakeUpstream, RecordedRequest

KEY = "AIza-vendor-secret-key"


def _deployment(base_url: str) -> Deployment:
    spec = ProviderSpec(name="goog", base_url=base_url, key_env=("GOOG_KEY",), auth="header:x-goog-api-key")
    return Deployment(name="m", provider=spec, model="m", base_url=base_url, api_key=Secret(KEY), hooks=None)


def _redirecting(to: str, status: int = 302) -> FakeUpstream:
    async def answer(request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.path == to:  # a same-host target: the file itself
            return web.Response(body=b"video bytes", content_type="video/mp4")
        target = to if to.startswith("http") else str(request.url.with_path(to))
        return web.Response(status=status, headers={"Location": target})
    return FakeUpstream(answer)


def _storage() -> FakeUpstream:
    async def answer(request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.path == "/loop":
            return web.Response(status=302, headers={"Location": "/loop"})
        return web.Response(body=b"video bytes", content_type="video/mp4")
    return FakeUpstream(answer)


async def _get(dep: Deployment, url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    headers = {**dep.auth_headers(), "Range": "bytes=0-", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, \
            upstream.send(session, dep, UpstreamRequest(method, url, headers, body)) as resp:
        return resp.status, await resp.read()


async def test_a_redirect_to_another_host_carries_no_vendor_key() -> None:
    storage = _storage().start()
    vendor = _redirecting(storage.url + "/files/v1.mp4").start()
    try:
        status, body = await _get(_deployment(vendor.url), vendor.url + "/v1beta/files/v1:download")
        assert (status, body) == (200, b"video bytes")
        got = storage.requests[-1].headers
        assert "x-goog-api-key" not in got and KEY not in str(got)
        assert got["range"] == "bytes=0-"  # harmless headers go on
        assert vendor.requests[-1].headers["x-goog-api-key"] == KEY
    finally:
        vendor.stop()
        storage.stop()


async def test_a_redirect_on_the_same_host_keeps_the_key_and_a_303_becomes_a_get() -> None:
    hop = _redirecting("/files/v1.mp4", status=303).start()
    try:
        status, body = await _get(_deployment(hop.url), hop.url + "/submit", "POST", b"{}")
        assert (status, body) == (200, b"video bytes")
        # The 303 stayed on the vendor's origin: the key goes on, the POST body does not.
        first, second = hop.requests
        assert (first.method, first.body) == ("POST", b"{}")
        assert (second.method, second.path, second.body) == ("GET", "/files/v1.mp4", b"")
        assert second.headers["x-goog-api-key"] == KEY
    finally:
        hop.stop()


async def test_endless_redirects_end_in_a_clear_error() -> None:
    storage = _storage().start()
    try:
        with pytest.raises(GatewayError) as err:
            await _get(_deployment(storage.url), storage.url + "/loop")
        assert err.value.status == 502 and err.value.code == "upstream_redirects"
    finally:
        storage.stop()
