"""One middleware for authentication and error rendering (one layer: middlewares cost per call)."""

from __future__ import annotations

import logging
import secrets

import orjson
from aiohttp import web
from aiohttp.web_middlewares import Handler
from multidict import istr

from relayport.accounts.money import format_amount
from relayport.calls import caller
from relayport.calltime import CallClock, clock
from relayport.ids import random_hex
from relayport.logs import request_id
from relayport.model.errors import GatewayError
from relayport.server.auth import presented_key, unauthorized
from relayport.server.keys import HANDLER_SURFACES, KEYRING

log = logging.getLogger("relayport.server")

# Routes anyone may call: liveness probes carry no keys; /metrics checks its own
# (`[metrics] require_admin`).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Routes that check keys themselves: realtime sessions also take short-lived client secrets.
OWN_AUTH_PATHS = frozenset({"/v1/realtime"})
ADMIN_PREFIX = "/admin/"


def render_openai(err: GatewayError) -> tuple[int, bytes]:
    return err.status, orjson.dumps(err.envelope())


def error_response(request: web.Request, err: GatewayError) -> web.Response:
    surfaces = request.app[HANDLER_SURFACES]
    handler = request.match_info.handler
    pick = getattr(handler, "pick", None)  # a path several surfaces share: whose request is it
    # A wrong method on a surface's path (405) has no handler of its own: find it by path.
    surface = pick(request) if pick is not None else surfaces.get(handler) or surfaces.get(request.path)
    render = surface.render_error if surface is not None and surface.render_error else render_openai
    status, body = render(err)
    headers = dict(err.headers)
    # A vendor's own retry-after passes unchanged (it is in err.headers); else ours, rounded up.
    if err.retry_after is not None and status in (429, 503, 529) and "retry-after" not in headers:
        headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def _from_http_exception(exc: web.HTTPException) -> GatewayError:
    if exc.status == 404:
        return GatewayError(404, "Unknown route. See /v1/models and /-/plugins.", code="unknown_route")
    if exc.status == 405:
        return GatewayError(405, f"Method not allowed; use {exc.headers.get('Allow', 'another method')}.",
                            type="invalid_request_error", code="method_not_allowed")
    if exc.status == 413:
        return GatewayError(413, "The request body is larger than this gateway accepts "
                                 "(server.max_body_bytes).", code="request_too_large")
    return GatewayError(exc.status, exc.reason or f"HTTP {exc.status}")


def _call_id(request: web.Request) -> str:
    """The client's `x-request-id` when it sent a sane one, so its logs and ours meet; else ours."""
    given = request.headers.get("x-request-id")
    if given and len(given) <= 128 and given.isprintable():
        return given
    return random_hex(8)


async def stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer, streams and errors included, names its call and
    says how much of its time was the gateway's own (the rest was the vendor's)."""
    headers = response.headers
    headers[_REQUEST_ID] = request_id.get()
    if (c := clock.get()) is not None:
        headers[_GATEWAY_MS] = c.gateway_ms()
    current = caller.get()
    if current is not None and (balance := current.balance()) is not None:
        headers[_BALANCE] = format_amount(balance)


# Header names made case-insensitive once, not on every answer (multidict folds a plain str
# each time it is set).
_REQUEST_ID, _GATEWAY_MS, _BALANCE = istr("x-request-id"), istr("x-relayport-gateway-ms"), istr("X-Account-Balance")


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id.set(_call_id(request))
    clock.set(CallClock())
    try:
        keyring = request.app[KEYRING]
        if keyring.enabled and (path := request.path) not in PUBLIC_PATHS and path not in OWN_AUTH_PATHS:
            token = presented_key(request)
            # /admin/* checks its own keys (relayport.server.admin_routes).
            if not keyring.check(token) and not path.startswith(ADMIN_PREFIX):
                accounts = keyring.accounts
                if accounts is not None and token is not None:
                    return await accounts.serve(accounts.lookup(token), request, handler)
                raise unauthorized(token is not None)
        return await handler(request)
    except GatewayError as err:
        return error_response(request, err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, _from_http_exception(exc))
    except ConnectionResetError:
        # The client went away mid-response; there is nobody to answer.
        log.info("client disconnected during %s %s", request.method, request.path)
        return web.Response(status=499)
    except Exception:
        # Never a traceback to the client: log it with an id the client can quote.
        incident = secrets.token_hex(6)
        log.exception("unhandled error serving %s %s (incident %s)", request.method, request.path, incident)
        return error_response(
            request, GatewayError(500, f"Internal gateway error (incident {incident}).", code="internal_error")
        )
