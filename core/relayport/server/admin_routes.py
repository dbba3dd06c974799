"""`/admin/keys`, `/admin/usage` and `/admin/prices`: the store's keys, usage and the effective
prices over HTTP, for admin keys only."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from relayport.accounts import manage
from relayport.accounts.price_list import rows
from relayport.accounts.records import KeyRecord, digest, parse_since
from relayport.accounts.store import GROUPINGS, SQLStore, StoreError
from relayport.model.errors import GatewayError
from relayport.server.auth import presented_key
from relayport.server.json_body import read_json_object
from relayport.server.keys import ACCOUNTS, ADMIN_KEYRING, CONFIG, KEYRING, PLUGINS


def require_admin(request: web.Request) -> None:
    token = presented_key(request)
    admins = request.app[ADMIN_KEYRING]
    if token is not None and admins.enabled and admins.check(token):
        return
    if token is None:
        raise GatewayError(401, "The admin API needs an admin key ([auth] admin_keys).",
                           type="invalid_request_error", code="missing_api_key")
    client = request.app[KEYRING]
    accounts = request.app[ACCOUNTS]
    is_client = (client.enabled and client.check(token)) or (
        accounts.by_digest.get(digest(token)) is not None)
    if not is_client:
        raise GatewayError(401, "Incorrect API key provided.", type="invalid_request_error",
                           code="invalid_api_key")
    raise GatewayError(403, "This key may call models, not the admin API ([auth] admin_keys).",
                       code="admin_only")


async def _admin_store(request: web.Request) -> SQLStore:
    """The store, for an admin, with this server's metered spend written first (so what it
    shows and changes includes every call so far)."""
    require_admin(request)
    accounts = request.app[ACCOUNTS]
    await accounts.flush()
    return accounts.store


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def _bad(exc: StoreError) -> GatewayError:
    return GatewayError(400, str(exc), code="invalid_key_request")


def _not_found(ref: str) -> GatewayError:
    return GatewayError(404, f"No key with id or name {ref[:64]!r}.", code="key_not_found")


async def _changed(request: web.Request, rec: KeyRecord | None, ref: str) -> web.Response:
    if rec is None:
        raise _not_found(ref)
    await request.app[ACCOUNTS].refresh()  # this server sees it at once, the others within a second
    return _json(rec.public())


async def list_keys(request: web.Request) -> web.Response:
    store = await _admin_store(request)
    now = time.time()
    return _json({"object": "list", "data": [r.public(now) for r in await store.keys()]})


async def create_key(request: web.Request) -> web.Response:
    store = await _admin_store(request)
    body = await read_json_object(request)
    try:
        secret, rec = await manage.create_key(store, body)
    except StoreError as exc:
        raise _bad(exc) from None
    await request.app[ACCOUNTS].refresh()
    # The only time the key is shown.
    return _json({**rec.public(), "key": secret}, status=201)


async def show_key(request: web.Request) -> web.Response:
    store = await _admin_store(request)
    ref = request.match_info["ref"]
    rec = await store.find(ref)
    if rec is None:
        raise _not_found(ref)
    return _json(rec.public())


async def revoke_key(request: web.Request) -> web.Response:
    store = await _admin_store(request)
    ref = request.match_info["ref"]
    return await _changed(request, await manage.revoke(store, ref), ref)


async def rotate_key(request: web.Request) -> web.Response:
    store = await _admin_store(request)
    ref = request.match_info["ref"]
    done = await manage.rotate_key(store, ref)
    if done is None:
        raise _not_found(ref)
    await request.app[ACCOUNTS].refresh()
    return _json({**done[1].public(), "key": done[0]})


async def topup_key(request: web.Request) -> web.Response:
    store = await _admin_store(request)
    ref = request.match_info["ref"]
    body = await read_json_object(request)
    try:
        rec = await manage.topup(store, ref, body.get("amount"))
    except StoreError as exc:
        raise _bad(exc) from None
    return await _changed(request, rec, ref)


async def usage(request: web.Request) -> web.Response:
    store = await _admin_store(request)
    q = request.query
    by = q.get("by", "model")
    if by not in GROUPINGS:
        raise GatewayError(400, f"by must be one of {', '.join(GROUPINGS)}.", param="by", code="invalid_value")
    since = None
    if q.get("since"):
        try:
            since = parse_since(q["since"])
        except ValueError as exc:
            raise GatewayError(400, str(exc), param="since", code="invalid_value") from None
    rows = manage.usage_rows(await store.usage(by, since, q.get("key") or None),
                             request.app[CONFIG].billing.currency)
    if q.get("format") == "csv":
        return web.Response(text=manage.as_csv(rows, by), content_type="text/csv")
    return _json({"object": "list", "by": by, "data": rows})


async def prices(request: web.Request) -> web.Response:
    """What `relayport prices` prints: each configured model's price and where it comes from."""
    require_admin(request)
    q = request.query
    specs = {name: entry.spec for name, entry in request.app[PLUGINS].providers.items()}
    found = rows(request.app[CONFIG], specs, q.get("model") or None, q.get("all") in ("1", "true"))
    return _json({"object": "list", "data": found})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/admin/keys", list_keys)
    app.router.add_post("/admin/keys", create_key)
    app.router.add_get("/admin/keys/{ref}", show_key)
    app.router.add_delete("/admin/keys/{ref}", revoke_key)
    app.router.add_post("/admin/keys/{ref}/revoke", revoke_key)
    app.router.add_post("/admin/keys/{ref}/rotate", rotate_key)
    app.router.add_post("/admin/keys/{ref}/topup", topup_key)
    app.router.add_get("/admin/usage", usage)
    app.router.add_get("/admin/prices", prices)
