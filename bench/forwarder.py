"""Bare aiohttp byte forwarder: the baseline the gateway is compared against.

It is the least an aiohttp proxy can do: an ordinary web.Application with one
catch-all route, one shared ClientSession, the request body read and POSTed
unchanged, status and Content-Type copied back. Streams are relayed with one
`write` per upstream read (`iter_any()`); other answers are read whole and
returned. No JSON is parsed anywhere. It runs on uvloop when installed, like
the gateway (see loops.py).

The upstream path is the request path, except for entries of the route table
(`--route SRC=DST`, default `/anthropic/v1/chat/completions=/v1/messages`):
that is how the bench points the forwarder at the Anthropic endpoint for the
anthropic->openai cases while sending it the very same bytes the gateway gets.

GET /healthz answers 200 so the forwarder can stand in for the gateway
(`run.py --self-test`).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
import loops
from aiohttp import web

DEFAULT_ROUTES = {
    "/anthropic/v1/chat/completions": "/v1/messages",
    "/gemini/v1/chat/completions": "/v1beta/models/gemini-2.5-flash:generateContent",
    "/gemini-stream/v1/chat/completions": "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
}

UPSTREAM = web.AppKey("upstream", str)
ROUTES = web.AppKey("routes", dict)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.StreamResponse:
    app = request.app
    path = app[ROUTES].get(request.path, request.path)
    body = await request.read()
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
    auth = request.headers.get("Authorization")
    if auth is not None:
        headers["Authorization"] = auth
    async with app[SESSION].post(app[UPSTREAM] + path, data=body, headers=headers) as up:
        ctype = up.headers.get("Content-Type", "application/octet-stream")
        if ctype.startswith("text/event-stream"):
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": ctype})
            try:
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
            except ConnectionResetError:
                pass  # client left mid-stream (wrk stopping): expected, stay quiet
            return resp
        data = await up.read()
        return web.Response(status=up.status, body=data, headers={"Content-Type": ctype})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    # limit=0: the connection pool must not cap concurrency below wrk's -c.
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        app[SESSION] = session
        yield


def make_app(upstream: str, routes: dict[str, str]) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app[ROUTES] = routes
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", forward)
    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18081)
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:18090")
    p.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="forward path SRC to upstream path DST (repeatable)",
    )
    p.add_argument(
        "--loop", choices=loops.CHOICES, default="auto", help="event loop (auto: uvloop if installed)"
    )
    a = p.parse_args()
    loop_name = loops.install(a.loop)
    print(f"forwarder on http://{a.host}:{a.port} -> {a.upstream} ({loop_name})", flush=True)
    routes = dict(DEFAULT_ROUTES)
    for r in a.route:
        src, _, dst = r.partition("=")
        routes[src] = dst
    web.run_app(
        make_app(a.upstream, routes),
        host=a.host,
        port=a.port,
        access_log=None,
        print=lambda *_: None,
        backlog=1024,
    )


if __name__ == "__main__":
    main()
