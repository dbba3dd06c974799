"""Serving until told to stop, then draining: what `relayport serve` runs.

On SIGTERM (or SIGINT) the gateway first says it is draining (`/readyz` 503, `/healthz`
"draining") while it still accepts calls for `server.drain_delay` seconds, so a load balancer
polling readiness stops sending new ones; then it closes its listening socket, lets the calls
and streams in flight finish for up to `server.drain_timeout` seconds, cancels what is left
and closes the vendor connections.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from aiohttp import web

log = logging.getLogger("relayport.server")

# The cyclic collector's first threshold while serving (CPython's default is 700). A call
# allocates and frees a few hundred container objects, almost none of them in cycles, so at
# 700 the collector ran every ~10 calls and found nothing: at c=32 on a translated stream,
# 424 young and 38 middle collections in 5 s plus 3 full ones of ~30 ms each (the full ones
# walk every module, plugin and config object), 5% of the loop's time for 9 objects freed.
# Net growth past 10,000 still starts a collection, so real cyclic garbage is still freed.
YOUNG_THRESHOLD = 10_000


def settle_collector() -> None:
    """Once serving: what was made while starting (modules, plugins, config, route tables)
    lives as long as the process, so it is frozen out of the collector's scans, and young
    collections run at YOUNG_THRESHOLD."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


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
        settle_collector()
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
