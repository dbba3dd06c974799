"""The aiohttp application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from relayport import credentials
from relayport.config import Config
from relayport.gateway import Gateway
from relayport.logs import DeferredHandler
from relayport.plugins import PluginSet, load_plugins
from relayport.provider import Surface
from relayport.routing import Router
from relayport.server import keys
from relayport.server.auth import KeyRing
from relayport.server.errors import gateway_middleware, render_openai, stamp_request_id
from relayport.server.openai_routes import openai_surface
from relayport.server.ops_routes import healthz, list_plugins
from relayport.tasks.store import TaskStore
from relayport.upstream import new_session


def create_app(
    config: Config | None = None,
    plugins: PluginSet | None = None,
    env: Mapping[str, str] | None = None,
) -> web.Application:
    """Build the gateway app. Raises `ConfigError` for a config that cannot serve."""
    config = config or Config()
    environ = os.environ if env is None else env
    plugins = plugins or load_plugins(environ)
    router = Router(config, plugins, environ)
    app = web.Application(middlewares=[gateway_middleware], client_max_size=config.server.max_body_bytes)
    app[keys.CONFIG] = config
    app[keys.PLUGINS] = plugins
    app[keys.ROUTER] = router
    app[keys.KEYRING] = KeyRing(config.auth.keys, environ)
    handler_surfaces: dict[object, Surface] = {}
    app[keys.HANDLER_SURFACES] = handler_surfaces

    ops = Surface("ops", (), render_error=render_openai)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/-/plugins", list_plugins)
    for surface in [openai_surface(), *plugins.surfaces]:
        for route in surface.routes:
            app.router.add_route(route.method, route.path, route.handler)
            handler_surfaces[route.handler] = surface
            handler_surfaces.setdefault(route.path, surface)
    handler_surfaces[healthz] = handler_surfaces[list_plugins] = ops

    app.on_response_prepare.append(stamp_request_id)
    app.cleanup_ctx.append(_client_session)
    app.cleanup_ctx.append(_task_store)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    session = new_session()
    app[keys.SESSION] = session
    config = app[keys.CONFIG]
    gateway = Gateway(app[keys.ROUTER], app[keys.PLUGINS], session, config.server.log_requests)
    handler = next((h for h in logging.getLogger().handlers if isinstance(h, DeferredHandler)), None)
    if handler is not None and logging.getLogger("relayport.calls").isEnabledFor(logging.INFO):
        gateway.call_log = handler.fast_info("relayport.calls")
    app[keys.GATEWAY] = gateway
    yield
    await credentials.close_all(app[keys.ROUTER].deployments())
    await session.close()


async def _task_store(app: web.Application) -> AsyncIterator[None]:
    store = TaskStore(app[keys.CONFIG].server.state_path)
    await store.open()
    app[keys.TASKS] = store
    yield
    await store.close()
