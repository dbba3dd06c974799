"""Operations: liveness and what is installed."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport import __version__
from relayport.server.keys import LIFECYCLE, PLUGINS, ROUTER


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves, saying "draining" after SIGTERM."""
    if request.app[LIFECYCLE].draining:
        return web.Response(body=b'{"status":"draining"}', content_type="application/json")
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 503 while draining, or naming the configured models with no deployment up
    (every one cooling down after failures); 200 otherwise."""
    if request.app[LIFECYCLE].draining:
        return web.Response(status=503, body=b'{"status":"draining"}', content_type="application/json")
    down = request.app[ROUTER].down()
    if down:
        return web.Response(status=503, body=orjson.dumps({"status": "unavailable", "models_down": down}),
                            content_type="application/json")
    return web.Response(body=b'{"status":"ready"}', content_type="application/json")


def describe_plugins(plugins: Any) -> dict[str, Any]:
    """What loaded, for `/-/plugins` and `relayport plugins`: no keys, no base URLs with secrets."""
    providers = plugins.providers
    return {
        "relayport": __version__,
        "plugins": [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "hooks": p.hooks,
                "providers": [
                    {
                        "name": name,
                        "capabilities": sorted(providers[name].spec.capabilities),
                        "key_env": list(providers[name].spec.key_env),
                        "model_patterns": list(providers[name].spec.model_patterns),
                        "openai_compatible": providers[name].spec.openai_compat is not None,
                    }
                    for name in p.providers
                ],
            }
            for p in plugins.plugins
        ],
        "failed": [{"name": f.name, "error": f.error} for f in plugins.failures],
        "surfaces": [s.name for s in plugins.surfaces],
    }


async def list_plugins(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(describe_plugins(request.app[PLUGINS])),
                        content_type="application/json")


async def list_deployments(request: web.Request) -> web.Response:
    """Each deployment's routing state (breaker, in flight, latency): no keys, no URLs."""
    return web.Response(body=orjson.dumps({"deployments": request.app[ROUTER].snapshot()}),
                        content_type="application/json")
