"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from relayport import credentials
from relayport.accounts.live import Accounts
from relayport.accounts.prices import price_table
from relayport.accounts.shared_limits import RedisLimits
from relayport.accounts.store import open_store
from relayport.config import Config
from relayport.gateway import Gateway
from relayport.logs import DeferredHandler
from relayport.plugins import PluginSet, load_plugins
from relayport.provider import ProviderSpec, Route, Surface
from relayport.responses.store import ResponseStore
from relayport.routing import Router
from relayport.search_tool import SEARCH_TOOL, search_tool
from relayport.secrets import resolve_secret
from relayport.server import keys, observability
from relayport.server.admin_routes import add_admin_routes
from relayport.server.auth import KeyRing
from relayport.server.errors import gateway_middleware, render_openai, stamp_request_id
from relayport.server.lifecycle import Lifecycle
from relayport.server.media_routes import media_surface
from relayport.server.openai_routes import openai_surface
from relayport.server.ops_routes import healthz, list_deployments, list_plugins, readyz
from relayport.server.realtime_routes import realtime_surface, token_issuer
from relayport.server.responses_background import resume_on_start
from relayport.server.responses_routes import responses_surface
from relayport.server.shared import SharedRoute
from relayport.services import SERVICES, Services
from relayport.tasks.poller import Poller
from relayport.tasks.results import ResultStore
from relayport.tasks.runner import TaskRunner
from relayport.tasks.store import open_task_store
from relayport.upstream import close_session, new_session
from relayport.urlguard import new_fetch_session
from relayport.webservices import REGISTRY, ServiceRegistry, services_surface
from relayport.wire.tasks import unified


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
    app[keys.REALTIME_TOKENS] = token_issuer(config.realtime, dict(environ))
    app[keys.LIFECYCLE] = Lifecycle()
    app[keys.ADMIN_KEYRING] = KeyRing(config.auth.admin_keys, environ)
    handler_surfaces: dict[object, Surface] = {}
    app[keys.HANDLER_SURFACES] = handler_surfaces

    ops = Surface("ops", (), render_error=render_openai)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/-/plugins", list_plugins)
    app.router.add_get("/-/deployments", list_deployments)
    secret = config.tasks.callback_secret
    app[keys.CALLBACK_SECRET] = resolve_secret(secret, dict(environ)) if secret else None
    shared: dict[tuple[str, str], list[tuple[Surface, Route]]] = {}
    app[REGISTRY] = ServiceRegistry(plugins.services, config.services, environ, router.deployments())
    if config.search.as_tool:
        app[SEARCH_TOOL] = search_tool(app[REGISTRY], config)
    for surface in [openai_surface(), responses_surface(), media_surface(), realtime_surface(),
                    services_surface(), *plugins.surfaces]:
        for route in surface.routes:
            shared.setdefault((route.method, route.path), []).append((surface, route))
            handler_surfaces[route.handler] = surface
            handler_surfaces.setdefault(route.path, surface)
    for (method, path), owners in shared.items():
        handler = owners[0][1].handler if len(owners) == 1 else SharedRoute(owners).handler()
        app.router.add_route(method, path, handler)
    handler_surfaces[healthz] = handler_surfaces[list_plugins] = handler_surfaces[list_deployments] = ops
    handler_surfaces[readyz] = ops
    add_admin_routes(app)

    app.on_response_prepare.append(stamp_request_id)
    app.cleanup_ctx.append(_client_session)
    app.cleanup_ctx.append(_accounts)
    app.cleanup_ctx.append(_task_store)
    app.cleanup_ctx.append(_response_store)
    app.cleanup_ctx.append(resume_on_start)  # background Responses left unfinished by the last run
    observability.install(app, environ)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    session = new_session()
    app[keys.SESSION] = session
    config = app[keys.CONFIG]
    gateway = Gateway(app[keys.ROUTER], app[keys.PLUGINS], session, config.server.log_requests,
                      fetch_policy=config.fetch)
    handler = next((h for h in logging.getLogger().handlers if isinstance(h, DeferredHandler)), None)
    if handler is not None and logging.getLogger("relayport.calls").isEnabledFor(logging.INFO):
        gateway.call_log = handler.fast_info("relayport.calls")
    gateway.max_response_bytes = config.server.max_response_bytes
    app[keys.GATEWAY] = gateway
    app[SERVICES] = Services(gateway, app[keys.ROUTER])
    yield
    await credentials.close_all(app[keys.ROUTER].deployments())
    await gateway.close()
    await close_session(session)


async def _task_store(app: web.Application) -> AsyncIterator[None]:
    """The task store, result store, runner and the background poller (one asyncio task)."""
    config = app[keys.CONFIG]
    store = open_task_store(config.server.store, config.server.state_path)
    await store.open()
    t = config.tasks
    results = ResultStore.for_state(config.server.state_path, t.results_path, t.results_max_bytes,
                                    t.results_retention)
    fetch_session = new_fetch_session(config.fetch)
    secret = app[keys.CALLBACK_SECRET]
    runner = TaskRunner(store, app[keys.SESSION], app[keys.ROUTER], t, results, fetch_session, config.fetch,
                        secret.reveal() if secret else None)
    runner.observe = app[keys.GATEWAY].notify  # a task's usage and media units, when it ends
    app[keys.TASKS] = store
    app[keys.RESULTS] = results
    app[keys.TASK_RUNNER] = runner
    poller = Poller(runner, unified)
    loop_task = asyncio.create_task(poller.run(), name="relayport-task-poller")
    yield
    loop_task.cancel()
    await asyncio.gather(loop_task, return_exceptions=True)
    await poller.stop()
    await runner.close()
    await fetch_session.close()
    await store.close()
    results.close()


async def _response_store(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    store = ResponseStore(config.server.state_path, config.responses.ttl_seconds)
    await store.open()
    app[keys.RESPONSES] = store
    yield
    await store.close()


def _specs(plugins: PluginSet) -> dict[str, ProviderSpec]:
    return {name: entry.spec for name, entry in plugins.providers.items()}


async def _accounts(app: web.Application) -> AsyncIterator[None]:
    """Store keys and the usage meter. The meter observes calls only once it has work (the
    store holds keys, or `[billing] usage_log = true`), so a gateway without either pays nothing."""
    config = app[keys.CONFIG]
    accounts = Accounts(open_store(config.server.store, config.server.state_path, serving=True),
                        price_table(config.models, _specs(app[keys.PLUGINS]), config.billing),
                        config.billing.usage_log,
                        RedisLimits(config.server.limits) if config.server.limits else None)
    await accounts.start()
    app[keys.ACCOUNTS] = accounts
    app[keys.KEYRING].attach(accounts)
    gateway = app[keys.GATEWAY]

    def meter() -> None:
        if accounts.observe not in gateway.observers:
            gateway.observers.insert(0, accounts.observe)  # first, so the others see the cost
            gateway.meter = accounts.charge

    if accounts.logging_rows or accounts.has_keys:
        meter()
    accounts.on_keys.append(meter)
    yield
    await accounts.stop()
