"""`relayport keys create|list|show|revoke|rotate|topup` and `relayport usage`: the same store
a running server uses (which sees a change within a second)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from relayport.accounts import manage
from relayport.accounts.records import KeyRecord, parse_since
from relayport.accounts.store import GROUPINGS, SQLStore, StoreError, open_store
from relayport.config import Config, load_config


def add_parsers(sub: Any) -> None:
    keys = sub.add_parser("keys", help="gateway keys in the store: create, list, show, revoke, rotate, topup")
    ks = keys.add_subparsers(dest="keys_command", required=True)
    create = ks.add_parser("create", help="make a key (printed once, on the last line)")
    create.add_argument("--name", required=True)
    create.add_argument("--owner")
    create.add_argument("--team")
    create.add_argument("--models", action="append", metavar="GLOB", help="allowed model names (repeat)")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--max-concurrency", type=int, help="calls in flight at once")
    create.add_argument("--budget", help="spend limit, in [billing] currency")
    create.add_argument("--period", choices=["day", "month"], help="the budget renews each period")
    create.add_argument("--balance", help="prepaid balance, in [billing] currency")
    create.add_argument("--expires", metavar="DATE", help="2027-01-31, an ISO datetime, or 30d")
    listing = ks.add_parser("list", help="every key (never the key itself)")
    show = ks.add_parser("show", help="one key, by name or id")
    show.add_argument("ref", metavar="NAME")
    revoke = ks.add_parser("revoke", help="stop a key at once")
    revoke.add_argument("ref", metavar="NAME|ID")
    rotate = ks.add_parser("rotate", help="a new secret for a key (the old one stops)")
    rotate.add_argument("ref", metavar="NAME|ID")
    topup = ks.add_parser("topup", help="add to a key's prepaid balance")
    topup.add_argument("ref", metavar="NAME")
    topup.add_argument("amount", metavar="AMOUNT")
    for p in (create, listing, show, revoke, rotate, topup):
        p.add_argument("--config", help="TOML config file (its [server] store / state_path)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
    usage = sub.add_parser("usage", help="usage and cost from the usage log")
    usage.add_argument("--config", help="TOML config file")
    usage.add_argument("--key", help="only this key (name or id)")
    usage.add_argument("--since", help="7d, 24h, or a date")
    usage.add_argument("--by", choices=GROUPINGS, default="model")
    usage.add_argument("--format", choices=["table", "json", "csv"], default="table")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        return asyncio.run(_run(args, config))
    except StoreError as exc:
        print(f"relayport: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config.server.store, config.server.state_path)
    await store.open()
    try:
        if args.command == "usage":
            return await _usage(args, store, config)
        return await _keys(args, store)
    finally:
        await store.close()


def _print_json(obj: Any) -> None:
    print(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def _line(rec: KeyRecord) -> str:
    r = rec.public()
    parts = [f"{r['name']}  {r['id']}  {r['key_hint']}  {r['status']}"]
    for field in ("owner", "team", "rpm", "tpm", "max_concurrency", "budget", "period", "balance", "expires_at"):
        if r[field] is not None:
            parts.append(f"{field}={r[field]}")
    if r["models"]:
        parts.append("models=" + ",".join(r["models"]))
    parts.append(f"spent={r['spent']}")
    return "  ".join(parts)


async def _keys(args: argparse.Namespace, store: SQLStore) -> int:
    cmd = args.keys_command
    if cmd == "create":
        spec = {"name": args.name, "owner": args.owner, "team": args.team, "models": args.models,
                "rpm": args.rpm, "tpm": args.tpm, "max_concurrency": args.max_concurrency, "budget": args.budget,
                "period": args.period, "balance": args.balance, "expires": args.expires}
        secret, rec = await manage.create_key(store, {k: v for k, v in spec.items() if v is not None})
        return _shown_once(args, rec, secret)
    if cmd == "list":
        recs = await store.keys()
        if args.json:
            _print_json([r.public() for r in recs])
        for rec in recs if not args.json else ():
            print(_line(rec))
        return 0
    if cmd == "rotate":
        done = await manage.rotate_key(store, args.ref)
        if done is None:
            raise StoreError(f"no key with name or id {args.ref!r}")
        return _shown_once(args, done[1], done[0])
    found: KeyRecord | None
    if cmd == "show":
        found = await store.find(args.ref)
    elif cmd == "revoke":
        found = await manage.revoke(store, args.ref)
    else:
        found = await manage.topup(store, args.ref, args.amount)
    if found is None:
        raise StoreError(f"no key with name or id {args.ref!r}")
    if args.json:
        _print_json(found.public())
    else:
        print(_line(found))
    return 0


def _shown_once(args: argparse.Namespace, rec: KeyRecord, secret: str) -> int:
    if args.json:
        _print_json({**rec.public(), "key": secret})
    else:
        print(_line(rec))
        print("The key is shown only now; store it safely:", file=sys.stderr)
        print(secret)
    return 0


async def _usage(args: argparse.Namespace, store: SQLStore, config: Config) -> int:
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    rows = manage.usage_rows(await store.usage(args.by, since, args.key), config.billing.currency)
    if args.format == "json":
        _print_json(rows)
    elif args.format == "csv":
        sys.stdout.write(manage.as_csv(rows, args.by))
    else:
        print(f"{args.by:<24} {'calls':>7} {'errors':>6} {'prompt':>10} {'completion':>10} {'cached':>9} "
              f"{'reasoning':>9} {'images':>7} {'video_s':>8} {'chars':>8}  cost")
        for r in rows:
            print(f"{str(r[args.by]):<24} {r['calls']:>7} {r['errors']:>6} {r['prompt_tokens']:>10} "
                  f"{r['completion_tokens']:>10} {r['cached_tokens']:>9} {r['reasoning_tokens']:>9} "
                  f"{r['images']:>7} {r['media_seconds']:>8g} {r['characters']:>8}  {r['cost']} {r['currency']}")
    return 0


def store_has_keys(config: Config) -> bool:
    """Whether the store holds gateway keys (so `serve` may bind beyond loopback)."""

    async def look() -> bool:
        store = open_store(config.server.store, config.server.state_path)
        await store.open()
        try:
            return bool(await store.keys())
        finally:
            await store.close()

    return asyncio.run(look())
