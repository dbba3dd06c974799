"""The realtime surface: `GET /v1/realtime` (a WebSocket session) and its client secrets.

The session route checks keys itself (the error middleware lets it through): besides the
gateway keys it takes the short-lived client secrets `POST /v1/realtime/client_secrets`
issues, each good for one model. Everything known before the upgrade (key, model, the
vendor's own refusal) is answered as an HTTP error in OpenAI's envelope, as OpenAI does;
after the upgrade, errors are `error` events and close codes (see `relayport.realtime.bridge`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from typing import Any

import aiohttp
from aiohttp import web

from relayport.config import RealtimeConfig
from relayport.model.errors import GatewayError
from relayport.provider import Deployment, Route, Surface
from relayport.realtime.bridge import Session
from relayport.realtime.endpoint import RealtimeEndpoint
from relayport.realtime.meter import ResponseMeter
from relayport.realtime.tokens import PREFIX, Grant, TokenIssuer
from relayport.server.auth import presented_key, unauthorized
from relayport.server.errors import render_openai
from relayport.server.json_body import read_json_object
from relayport.server.keys import CONFIG, GATEWAY, KEYRING, REALTIME_TOKENS, SESSION

log = logging.getLogger("relayport.realtime")

PATH = "/v1/realtime"
# Offered back to browsers that send `realtime` among their subprotocols (never the key one).
SUBPROTOCOLS = ("realtime",)


def _authorize(request: web.Request) -> Grant | None:
    token = presented_key(request)
    if token is not None and token.startswith(PREFIX):
        grant = request.app[REALTIME_TOKENS].check(token)
        if grant is None:
            raise GatewayError(401, "The client secret is invalid or has expired.", type="invalid_request_error",
                               code="invalid_client_secret")
        return grant
    keyring = request.app[KEYRING]
    if keyring.enabled and not keyring.check(token) and (keyring.accounts is None or token is None):
        raise unauthorized(token is not None)
    return None


async def realtime_session(request: web.Request) -> web.StreamResponse:
    """A store key (relayport.accounts) runs the session as that key: its allow-list, budget,
    rates and concurrency slot apply, and the session's usage is charged to it."""
    token = presented_key(request)
    keyring = request.app[KEYRING]
    accounts = keyring.accounts
    if (keyring.enabled and accounts is not None and token is not None and not token.startswith(PREFIX)
            and not keyring.check(token)):
        return await accounts.serve(accounts.lookup(token), request, _session)
    return await _session(request)


def _handshake_error(dep: Deployment, exc: BaseException) -> GatewayError:
    name = dep.provider.name
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        status = exc.status
        if status in (401, 403):
            return GatewayError(502, f"{name} refused the gateway's key for a realtime session (HTTP {status}).",
                                code="upstream_auth_error")
        if status == 404:
            return GatewayError(404, f"{name} has no realtime model {dep.model!r}.", code="model_not_found")
        if status == 429:
            return GatewayError(429, f"{name} is rate limiting realtime sessions; retry later.",
                                code="rate_limit_exceeded", retryable=True)
        return GatewayError(502, f"{name} refused the realtime session (HTTP {status}).", code="upstream_error",
                            retryable=status >= 500)
    if isinstance(exc, TimeoutError):
        return GatewayError(504, f"{name} did not open the realtime session in time.", code="upstream_timeout",
                            retryable=True)
    return GatewayError(502, f"Could not reach {name} for a realtime session.", code="upstream_unreachable",
                        retryable=True)


async def _connect(request: web.Request, deployments: list[Deployment], query: dict[str, str],
                   cfg: RealtimeConfig) -> tuple[Deployment, RealtimeEndpoint, aiohttp.ClientWebSocketResponse[bool]]:
    session = request.app[SESSION]
    last: GatewayError | None = None
    for dep in deployments:
        endpoint = dep.hooks.relayport_realtime_endpoint(deployment=dep, query=dict(query))
        if endpoint is None:
            continue
        try:
            async with asyncio.timeout(dep.timeouts.connect):
                ws = await session.ws_connect(
                    endpoint.url, headers=dict(endpoint.headers), protocols=endpoint.protocols,
                    heartbeat=cfg.heartbeat or None, max_msg_size=cfg.max_message_bytes, proxy=dep.proxy,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=cfg.close_timeout),
                    autoping=True, decode_text=False,
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            last = _handshake_error(dep, exc)
            log.warning("realtime: %s refused or unreachable (%s)", dep, last.message)
            continue
        return dep, endpoint, ws
    if last is not None:
        raise last
    model = deployments[0].name
    raise GatewayError(400, f"The model {model!r} is not served over realtime sessions.",
                       code="model_not_realtime", param="model")


async def _session(request: web.Request) -> web.StreamResponse:
    grant = _authorize(request)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise GatewayError(426, "GET /v1/realtime is a WebSocket: connect with an Upgrade: websocket request.",
                           code="websocket_required")
    model = request.query.get("model") or (grant.model if grant else None)
    if not model:
        raise GatewayError(400, "Name the model: /v1/realtime?model=<model>.", param="model", code="missing_model")
    if grant is not None and model != grant.model:
        raise GatewayError(403, f"This client secret is for the model {grant.model!r}.", code="model_not_allowed")
    cfg = request.app[CONFIG].realtime
    gateway = request.app[GATEWAY]
    deployments = gateway.resolve(model)
    query = {k: v for k, v in request.query.items() if k not in ("model", "key")}
    dep, endpoint, vendor = await _connect(request, deployments, query, cfg)
    client = web.WebSocketResponse(protocols=SUBPROTOCOLS, heartbeat=cfg.heartbeat or None,
                                   max_msg_size=cfg.max_message_bytes, timeout=cfg.close_timeout,
                                   compress=False, decode_text=False)
    try:
        await client.prepare(request)
    except BaseException:
        await vendor.close()
        raise
    first = []
    if grant is not None and grant.session:
        first.append({"type": "session.update", "session": grant.session})
    meter = ResponseMeter(gateway, dep)
    session = Session(client, vendor, endpoint.translator, meter, cfg.close_timeout, first)
    try:
        await session.run()
    except Exception:
        incident = secrets.token_hex(6)
        log.exception("realtime session for %s failed (incident %s)", dep, incident)
    log.info("realtime session model=%s provider=%s events_in=%d events_out=%d responses=%d close=%s",
             dep.name, dep.provider.name, session.events_in, session.events_out, meter.responses, client.close_code)
    return client


def _ttl(body: dict[str, Any], cfg: RealtimeConfig) -> float:
    expires = body.get("expires_after")
    if expires is None:
        return cfg.token_ttl
    if not isinstance(expires, dict):
        raise GatewayError(400, "'expires_after' must be an object.", param="expires_after")
    anchor = expires.get("anchor", "created_at")
    if anchor != "created_at":
        raise GatewayError(400, "'expires_after.anchor' must be 'created_at'.", param="expires_after.anchor")
    seconds = expires.get("seconds", cfg.token_ttl)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 10 <= seconds <= cfg.token_max_ttl:
        raise GatewayError(400, f"'expires_after.seconds' must be between 10 and {int(cfg.token_max_ttl)}.",
                           param="expires_after.seconds", code="invalid_value")
    return float(seconds)


async def client_secrets(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    session = body.get("session", {})
    if not isinstance(session, dict):
        raise GatewayError(400, "'session' must be an object.", param="session")
    kind = session.get("type", "realtime")
    if kind != "realtime":
        raise GatewayError(400, f"Session type {kind!r} is not served; use 'realtime'.", param="session.type",
                           code="invalid_value")
    model = session.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(400, "Name the model in 'session.model'.", param="session.model", code="missing_model")
    cfg = request.app[CONFIG].realtime
    ttl = _ttl(body, cfg)
    request.app[GATEWAY].resolve(model)  # 404 now for a model no session could use
    # The vendor gets its own model id: the configured name stays out of the session config.
    config = {k: v for k, v in session.items() if k not in ("model", "type")}
    applied = {"type": "realtime", **config} if config else None
    value, expires_at = request.app[REALTIME_TOKENS].issue(model, ttl, applied)
    answer = {"type": "realtime", "object": "realtime.session", "id": "sess_" + os.urandom(10).hex(),
              "model": model, **config, "expires_at": expires_at}
    return web.json_response({"value": value, "expires_at": expires_at, "session": answer})


def realtime_surface() -> Surface:
    return Surface("openai.realtime", (Route("GET", PATH, realtime_session),
                                       Route("POST", PATH + "/client_secrets", client_secrets)),
                   render_error=render_openai)


def token_issuer(cfg: RealtimeConfig, env: dict[str, str]) -> TokenIssuer:
    from relayport.secrets import resolve_secret

    secret = resolve_secret(cfg.token_secret, env) if cfg.token_secret else None
    return TokenIssuer(secret.reveal().encode() if secret else None)
