"""Routes that several surfaces serve (same method and path): the client's request decides.

`GET /v1/models` is OpenAI's, Anthropic's and Gemini's; each SDK sends something the others do
not (`anthropic-version`, `x-goog-api-key`), which the surfaces' `claims` recognise. One aiohttp
route per path, whose handler asks the claiming surfaces in order and falls back to the
surface that claims nothing (the core's OpenAI surface).
"""

from __future__ import annotations

from aiohttp import web

from relayport.provider import Handler, Route, Surface


class SharedRoute:
    def __init__(self, owners: list[tuple[Surface, Route]]) -> None:
        self._claimants = [(s, r.handler) for s, r in owners if s.claims is not None]
        default = next(((s, r.handler) for s, r in owners if s.claims is None), None)
        # Without an unclaiming owner, the first registered one answers what nobody claims.
        self._default: tuple[Surface, Handler] = default or (owners[0][0], owners[0][1].handler)

    def _choose(self, request: web.Request) -> tuple[Surface, Handler]:
        for surface, handler in self._claimants:
            if surface.claims(request):  # type: ignore[misc]
                return surface, handler
        return self._default

    def pick(self, request: web.Request) -> Surface:
        """The surface answering `request` (the error middleware renders in its envelope)."""
        return self._choose(request)[0]

    def handler(self) -> Handler:
        """The aiohttp handler: a coroutine function (aiohttp wraps anything else, hiding
        `pick` from the error middleware)."""

        async def shared_route(request: web.Request) -> web.StreamResponse:
            return await self._choose(request)[1](request)

        shared_route.pick = self.pick  # type: ignore[attr-defined]
        return shared_route
