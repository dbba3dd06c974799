"""What watches the calls: `/metrics`, the Prometheus and OpenTelemetry observers, stream metering.

`install(app, environ)` adds the route and a cleanup context that runs after the gateway is
made; with metrics off (or prometheus-client missing) and tracing off, no observer is
registered and the hot path is what it was.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from relayport import metrics
from relayport.metrics import Metrics
from relayport.model.errors import GatewayError
from relayport.server import keys
from relayport.server.auth import KeyRing, presented_key, unauthorized

log = logging.getLogger("relayport.server")

METRICS: web.AppKey[Metrics | None] = web.AppKey("relayport.metrics")
# Who may scrape when `[metrics] require_admin` is on (None: anyone).
SCRAPERS: web.AppKey[KeyRing | None] = web.AppKey("relayport.metrics_scrapers")
_METER = {"auto": None, "always": True, "never": False}


def install(app: web.Application, environ: Mapping[str, str]) -> None:
    config = app[keys.CONFIG]
    scrapers = None
    if config.metrics.require_admin:
        # The admin keys where the config has them, else the gateway keys.
        admin = getattr(config.auth, "admin_keys", None)
        scrapers = KeyRing(admin, environ) if admin else app[keys.KEYRING]
    app[SCRAPERS] = scrapers
    app[METRICS] = None
    app.router.add_get("/metrics", scrape)
    app.cleanup_ctx.append(_observers)


async def _observers(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    gateway = app[keys.GATEWAY]
    gateway.meter_streams = _METER[config.server.meter_streams]
    gateway.new_api_usage = config.server.usage_fields == "new-api"
    gateway.estimate_interrupted = config.billing.estimate_interrupted
    if config.metrics.enabled and metrics.available():
        found = app[METRICS] = Metrics(config.metrics, app[keys.ROUTER])
        gateway.observers.append(found.observe)
    if config.metrics.otel:
        from relayport import tracing

        gateway.observers.append(tracing.span_observer())
    yield


async def scrape(request: web.Request) -> web.Response:
    scrapers = request.app[SCRAPERS]
    if scrapers is not None:
        token = presented_key(request)
        if not scrapers.check(token):
            raise unauthorized(token is not None)
    found = request.app[METRICS]
    if found is None:
        if request.app[keys.CONFIG].metrics.enabled:
            raise GatewayError(501, "Prometheus metrics need the prometheus-client package: "
                                    f"{metrics.INSTALL_HINT}", code="metrics_unavailable")
        raise GatewayError(404, "Metrics are turned off ([metrics] enabled = false).", code="metrics_disabled")
    body, content_type = await found.render(request.app.get(keys.TASKS))
    return web.Response(body=body, headers={"Content-Type": content_type})
