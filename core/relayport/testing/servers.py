"""aiohttp apps served from a background thread, so sync SDK clients can call them in tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

from relayport.config import Config, parse_config
from relayport.plugins import PluginSet, load_plugins


def closed_port() -> int:
    """A loopback port nothing listens on (for "vendor unreachable" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Runs `app` on 127.0.0.1 (an ephemeral port) in its own thread and event loop."""

    def __init__(self, app: web.Application, **runner_kwargs: Any) -> None:
        self.app = app
        self._runner_kwargs = {"handler_cancellation": True, **runner_kwargs}
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="relayport-test-server")
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # surface start-up errors in the test thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, **self._runner_kwargs)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (to inspect app state from a test)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)


@attrs.define
class GatewayHandle:
    """A running gateway: its URL, the client key and the server thread."""

    server: ServerThread
    key: str | None
    config: Config

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def openai_base_url(self) -> str:
        return self.server.url + "/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def stop(self) -> None:
        self.server.stop()


def start_gateway(
    config: Config | Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    plugins: PluginSet | None = None,
    extra_plugins: Mapping[str, object] | None = None,
) -> GatewayHandle:
    """Start a gateway on loopback; `config` is a Config or its TOML-shaped dict.

    `env` replaces the process environment for vendor-key lookup and plugin selection, so
    tests never read the developer's real keys.
    """
    from relayport.server.app import create_app

    cfg = config if isinstance(config, Config) else parse_config(dict(config), "<test>")
    environ = dict(env or {})
    plugins = plugins or load_plugins(environ, extra_plugins=extra_plugins)
    app = create_app(cfg, plugins=plugins, env=environ)
    keys = [k for k in cfg.auth.keys if not k.startswith("env:")]
    server = ServerThread(app).start()
    return GatewayHandle(server, keys[0] if keys else None, cfg)
