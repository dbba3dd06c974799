"""What the core hands to surfaces: the one public way a plugin's routes reach core services.

A surface handler calls `services(request)` and gets the call engine (`gateway`: resolve,
complete, open_stream, passthrough), the configured models and the body reader, without
importing `relayport.server.*` (the server imports plugins, never the other way round).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

if TYPE_CHECKING:
    from relayport.gateway import Gateway
    from relayport.provider import Deployment
    from relayport.routing import Router


@attrs.define(frozen=True)
class Services:
    gateway: Gateway
    router: Router

    def models(self) -> list[tuple[str, Deployment]]:
        """The configured model names, each with its first deployment (for model lists)."""
        return self.router.names()

    async def read_json(self, request: web.Request) -> dict[str, Any]:
        """The client's JSON object body, or the 400 a client should get for anything else."""
        from relayport.server.json_body import read_json_object

        return await read_json_object(request)


SERVICES: web.AppKey[Services] = web.AppKey("relayport.services")


def services(request: web.Request) -> Services:
    """The core's services for the app serving `request`."""
    return request.app[SERVICES]
