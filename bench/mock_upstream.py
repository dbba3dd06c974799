"""Mock LLM upstream (OpenAI chat completions + Anthropic Messages) for the bench.

It must never be the bottleneck, so it uses aiohttp's low-level server (no
router, no middlewares, no access log) and serves response bytes that are
built once per (route, stream, usage, model, length) and then cached. Per
request it only reads and JSON-decodes the body to learn `model`, `stream`
and `stream_options.include_usage`.

Routes:
  POST /v1/chat/completions   OpenAI chat; SSE when "stream": true
  POST /v1/messages           Anthropic Messages; SSE when "stream": true
  GET  /healthz               200
  GET  /_bench/config         current settings (JSON)
  POST /_bench/config         change settings at run time: {"delay_ms": 20,
                              "events": 10, "ping": true}; lets the TTFB
                              case slow the stream down without restarting
                              the gateway that points at this mock
  POST /v1/videos             an OpenAI-style video task (`bench/tasks.py`): answers queued
  GET  /v1/videos/{id}        ... and stays in_progress forever, so the gateway keeps polling
  GET  /_bench/stats          request counts and the auth headers last seen
                              per route (to check the gateway sends its
                              upstream key), connections accepted so far

With delay_ms == 0 a whole stream goes out in a single write; otherwise each
event is written on its own, with delay_ms between events (the first one is
sent at once, so TTFB is not affected by the delay).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

import fixtures
import loops
import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

JSON_CT = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
MAX_CACHE = 256


class Mock:
    def __init__(self, delay_ms: float, events: int, ping: bool) -> None:
        self.delay_ms = delay_ms
        self.events = events
        self.ping = ping
        # key -> (list of events, all events joined); non-stream -> ([], body)
        self._cache: dict[tuple[Any, ...], tuple[list[bytes], bytes]] = {}
        self.connections = 0
        self.stats: dict[str, dict[str, Any]] = {
            "openai": {"requests": 0, "last_headers": {}},
            "anthropic": {"requests": 0, "last_headers": {}},
            "gemini": {"requests": 0, "last_headers": {}},
            "videos": {"requests": 0, "polls": 0},
        }

    def config(self) -> dict[str, Any]:
        return {"delay_ms": self.delay_ms, "events": self.events, "ping": self.ping}

    def _payload(self, kind: str, stream: bool, usage: bool, model: str) -> tuple[list[bytes], bytes]:
        key = (kind, stream, usage, model, self.events, self.ping)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if kind == "openai":
            if stream:
                evs = fixtures.openai_stream(model, self.events, usage)
                hit = (evs, b"".join(evs))
            else:
                hit = ([], fixtures.openai_completion(model, self.events))
        elif kind == "gemini":
            if stream:
                evs = fixtures.gemini_stream(model, self.events)
                hit = (evs, b"".join(evs))
            else:
                hit = ([], fixtures.gemini_response(model, self.events))
        else:
            if stream:
                evs = fixtures.anthropic_stream(model, self.events, self.ping)
                hit = (evs, b"".join(evs))
            else:
                hit = ([], fixtures.anthropic_message(model, self.events))
        if len(self._cache) >= MAX_CACHE:  # bounded: model names come from clients
            self._cache.clear()
        self._cache[key] = hit
        return hit

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if request.method == "POST":
            if path == "/v1/chat/completions":
                return await self._complete(request, "openai")
            if path == "/v1/messages":
                return await self._complete(request, "anthropic")
            if path.startswith("/v1beta/models/"):
                return await self._complete(request, "gemini")
            if path == "/_bench/config":
                return await self._set_config(request)
            if path == "/v1/videos":
                return self._video(request, None)
        elif request.method == "GET":
            if path.startswith("/v1/videos/"):
                return self._video(request, path[len("/v1/videos/"):])
            if path == "/healthz":
                return web.Response(text="ok")
            if path == "/_bench/config":
                return web.Response(body=orjson.dumps(self.config()), content_type=JSON_CT)
            if path == "/_bench/stats":
                doc = {**self.stats, "connections": self.connections}
                return web.Response(body=orjson.dumps(doc), content_type=JSON_CT)
        return web.Response(status=404, text=f"mock: no route {request.method} {path}")

    def _video(self, request: web.BaseRequest, video_id: str | None) -> web.Response:
        st = self.stats["videos"]
        if video_id is None:
            st["requests"] += 1
            video_id = f"video_{st['requests']:06d}"
            status, progress = "queued", 0
        else:
            st["polls"] += 1
            status, progress = "in_progress", 50
        doc = {"id": video_id, "object": "video", "model": "sora-2", "status": status, "progress": progress,
               "created_at": 1_700_000_000, "completed_at": None, "expires_at": None, "seconds": "4",
               "size": "720x1280", "remixed_from_video_id": None, "error": None}
        return web.Response(body=orjson.dumps(doc), content_type=JSON_CT)

    async def _set_config(self, request: web.BaseRequest) -> web.Response:
        new = orjson.loads(await request.read())
        self.delay_ms = float(new.get("delay_ms", self.delay_ms))
        self.events = max(2, int(new.get("events", self.events)))
        self.ping = bool(new.get("ping", self.ping))
        return web.Response(body=orjson.dumps(self.config()), content_type=JSON_CT)

    async def _complete(self, request: web.BaseRequest, kind: str) -> web.StreamResponse:
        body = await request.read()
        try:
            req = orjson.loads(body)
            if not isinstance(req, dict):
                raise TypeError("body is not a JSON object")
        except (ValueError, TypeError) as exc:
            err = {"error": {"type": "invalid_request_error", "message": f"mock: {exc}"}}
            return web.Response(status=400, body=orjson.dumps(err), content_type=JSON_CT)

        st = self.stats[kind]
        st["requests"] += 1
        h = request.headers
        st["last_headers"] = {k: h[k] for k in ("Authorization", "x-api-key", "anthropic-version",
                                                "x-goog-api-key") if k in h}

        model = req.get("model")
        model = model[:100] if isinstance(model, str) else "unknown"
        stream = req.get("stream") is True
        if kind == "gemini":  # the model and the kind of answer are in the path
            model, _, action = request.path.rsplit("/", 1)[-1].partition(":")
            stream = action == "streamGenerateContent"
        opts = req.get("stream_options")
        usage = isinstance(opts, dict) and opts.get("include_usage") is True
        events, joined = self._payload(kind, stream, usage, model)

        if not stream:
            return web.Response(body=joined, content_type=JSON_CT)

        resp = web.StreamResponse(headers=SSE_HEADERS)
        delay = self.delay_ms / 1000.0
        try:
            await resp.prepare(request)
            if delay <= 0:
                await resp.write(joined)
            else:
                for i, ev in enumerate(events):
                    if i:
                        await asyncio.sleep(delay)
                    await resp.write(ev)
            await resp.write_eof()
        except ConnectionResetError:
            # The client went away mid-stream (wrk closes its connections when
            # its time is up): expected, not worth a traceback in the log.
            pass
        return resp


class CountingServer(web.Server):
    """Counts accepted connections: a gateway that does not reuse its upstream
    connections shows up as one connection per request."""

    def __init__(self, mock: Mock, **kwargs: Any) -> None:
        super().__init__(mock.handle, **kwargs)
        self.mock = mock

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self.mock.connections += 1
        super().connection_made(handler, transport)


async def serve(host: str, port: int, mock: Mock) -> None:
    server = CountingServer(mock, access_log=None)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mock upstream on http://{host}:{port} {mock.config()}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("MOCK_PORT", "18090")))
    p.add_argument(
        "--delay-ms",
        type=float,
        default=float(os.environ.get("MOCK_DELAY_MS", "0")),
        help="delay between stream events (default 0: one write per stream)",
    )
    p.add_argument(
        "--events",
        type=int,
        default=int(os.environ.get("MOCK_EVENTS", "100")),
        help="stream events / text deltas per response, and tokens per non-stream answer (default 100)",
    )
    p.add_argument("--no-ping", action="store_true", help="omit Anthropic ping events")
    p.add_argument(
        "--loop", choices=loops.CHOICES, default="auto", help="event loop (auto: uvloop if installed)"
    )
    a = p.parse_args()
    loop_name = loops.install(a.loop)
    print(f"event loop: {loop_name}", flush=True)
    asyncio.run(serve(a.host, a.port, Mock(a.delay_ms, max(2, a.events), not a.no_ping)))


if __name__ == "__main__":
    main()
