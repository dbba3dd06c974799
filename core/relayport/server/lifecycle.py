"""Serving until told to stop, then draining: what `relayport serve` runs.

On SIGTERM (or SIGINT) the gateway first says it is draining (`/readyz` 503, `/healthz`
"draining") while it still accepts calls for `server.drain_delay` seconds, so a load balancer
polling readiness stops sending new ones; then it closes its listening socket, lets the calls
and streams in flight finish for up to `server.drain_timeout` seconds, cancels what is left
and closes the vendor connections.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

log = logging.getLogger("relayport.server")


class Lifecycle:
    """The server's state that handlers read (`keys.LIFECYCLE`)."""

    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False


async def serve(app: web.Application, host: str, port: int, lifecycle: Lifecycle, drain_delay: float,
                drain_timeout: float, ready: str | None = None) -> None:
    """Serve `app` until SIGTERM/SIGINT, then drain; `ready` is printed once listening."""
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=drain_timeout)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        if ready:
            print(ready, flush=True)
        await stop.wait()
        lifecycle.draining = True
        log.warning("draining: %g s more of new calls, then up to %g s for the calls in flight",
                    drain_delay, drain_timeout)
        if drain_delay:
            stop.clear()  # a second signal ends the delay early
            try:
                async with asyncio.timeout(drain_delay):
                    await stop.wait()
            except TimeoutError:
                pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
