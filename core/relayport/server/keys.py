"""Typed application keys: everything handlers and plugins read from the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from relayport.config import Config
    from relayport.gateway import Gateway
    from relayport.plugins import PluginSet
    from relayport.provider import Surface
    from relayport.routing import Router
    from relayport.server.auth import KeyRing
    from relayport.server.lifecycle import Lifecycle

CONFIG: web.AppKey[Config] = web.AppKey("relayport.config")
PLUGINS: web.AppKey[PluginSet] = web.AppKey("relayport.plugins")
ROUTER: web.AppKey[Router] = web.AppKey("relayport.router")
GATEWAY: web.AppKey[Gateway] = web.AppKey("relayport.gateway")
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("relayport.session")
KEYRING: web.AppKey[KeyRing] = web.AppKey("relayport.keyring")
# handler (and route path) -> the surface that registered it, so errors render in that
# surface's envelope.
HANDLER_SURFACES: web.AppKey[dict[object, Surface]] = web.AppKey("relayport.handler_surfaces")

if TYPE_CHECKING:
    from relayport.realtime.tokens import TokenIssuer
    from relayport.responses.store import ResponseStore
    from relayport.secrets import Secret
    from relayport.tasks.results import ResultStore
    from relayport.tasks.runner import TaskRunner
    from relayport.tasks.store import TaskStoreProtocol

TASKS: web.AppKey[TaskStoreProtocol] = web.AppKey("relayport.tasks")
TASK_RUNNER: web.AppKey[TaskRunner] = web.AppKey("relayport.task_runner")
RESULTS: web.AppKey[ResultStore] = web.AppKey("relayport.results")
# The resolved `tasks.callback_secret` (a Secret: never printed).
CALLBACK_SECRET: web.AppKey[Secret | None] = web.AppKey("relayport.callback_secret")
RESPONSES: web.AppKey[ResponseStore] = web.AppKey("relayport.responses")
# Signs and checks realtime client secrets (`POST /v1/realtime/client_secrets`).
REALTIME_TOKENS: web.AppKey[TokenIssuer] = web.AppKey("relayport.realtime_tokens")
# Whether the server is draining after SIGTERM (see relayport.server.lifecycle).
LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("relayport.lifecycle")

if TYPE_CHECKING:
    from relayport.accounts.live import Accounts

# Store keys, limits and the usage meter; and the keys `/admin/*` takes.
ACCOUNTS: web.AppKey[Accounts] = web.AppKey("relayport.accounts")
ADMIN_KEYRING: web.AppKey[KeyRing] = web.AppKey("relayport.admin_keyring")
