"""Surfaces that share a path: the client's request picks the surface that answers."""

from __future__ import annotations

import httpx
import orjson
from aiohttp import web

from relayport import hookimpl
from relayport.model.errors import GatewayError
from relayport.provider import Route, Surface
from relayport.services import services


async def listing(request: web.Request) -> web.Response:
    svc = services(request)  # the public way in: no relayport.server import
    return web.json_response({"format": "hello", "models": [name for name, _ in svc.models()]})


async def fail(request: web.Request) -> web.Response:
    raise GatewayError(404, "no such thing")


class Hello:
    @hookimpl
    def relayport_register_surfaces(self, register):
        register(Surface(
            "hello",
            (Route("GET", "/v1/models", listing), Route("GET", "/v1/models/{model:.+}", fail)),
            render_error=lambda err: (err.status, orjson.dumps({"hello_error": err.message})),
            claims=lambda request: "x-hello" in request.headers,
        ))


def test_shared_path_goes_to_the_claiming_surface(relayport_gateway, fake_openai):
    gw = relayport_gateway({"auth": {"keys": ["k"]}, "models": [
        {"name": "m1", "provider": "openai", "model": "gpt-x", "base_url": fake_openai.base_url}]},
        env={}, extra_plugins={"hello": Hello()})
    auth = {"Authorization": "Bearer k"}
    # OpenAI's answer when nobody claims the request.
    r = httpx.get(gw.url + "/v1/models", headers=auth)
    assert r.json()["object"] == "list" and r.json()["data"][0]["id"] == "m1"
    r = httpx.get(gw.url + "/v1/models/m1", headers=auth)
    assert r.json() == {"id": "m1", "object": "model", "created": 0, "owned_by": "openai"}
    # The claiming surface's answer, and its errors in its own envelope (auth errors too).
    r = httpx.get(gw.url + "/v1/models", headers={**auth, "x-hello": "1"})
    assert r.json() == {"format": "hello", "models": ["m1"]}
    r = httpx.get(gw.url + "/v1/models/m1", headers={**auth, "x-hello": "1"})
    assert (r.status_code, r.json()) == (404, {"hello_error": "no such thing"})
    r = httpx.get(gw.url + "/v1/models", headers={"x-hello": "1"})
    assert r.status_code == 401 and "hello_error" in r.json()
    r = httpx.get(gw.url + "/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
