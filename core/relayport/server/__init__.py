"""The aiohttp server: app factory, routes, middlewares."""

from relayport.server.app import create_app

__all__ = ["create_app"]
