"""`relayport serve|plugins|models|check`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import orjson

from relayport.accounts import cli as accounts_cli
from relayport.accounts import price_list
from relayport.config import Config, ConfigError, load_config
from relayport.logs import setup_logging


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relayport", description="A self-hosted LLM API gateway.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="TOML config file (default: embedded defaults)")
    serve.add_argument("--host", help="listen address (overrides [server] host)")
    serve.add_argument("--port", type=int, help="listen port (overrides [server] port)")
    plugins = sub.add_parser("plugins", help="list installed vendor plugins")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    models = sub.add_parser("models", help="list the model names the config serves")
    models.add_argument("--config", help="TOML config file")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    check = sub.add_parser("check", help="validate a config file")
    check.add_argument("--config", required=True, help="TOML config file")
    new = sub.add_parser("new-plugin", help="write a vendor plugin package that passes its own tests")
    new.add_argument("name", help="the vendor's name, e.g. acme (package relayport-acme)")
    new.add_argument("--openai-compatible", action="store_true",
                     help="the vendor speaks OpenAI's chat format (quirks as options)")
    new.add_argument("--dir", default=".", help="where to write the package (default: here)")
    accounts_cli.add_parsers(sub)
    price_list.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "plugins":
            return _plugins(args)
        if args.command == "models":
            return _models(args)
        if args.command == "new-plugin":
            return _new_plugin(args)
        if args.command in ("keys", "usage"):
            return accounts_cli.run(args)
        if args.command == "prices":
            return price_list.run(args)
        return _check(args)
    except ConfigError as exc:
        print(f"relayport: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from relayport.server.app import create_app
    from relayport.server.auth import LOOPBACK_HOSTS, KeyRing, check_bind
    from relayport.server.keys import LIFECYCLE
    from relayport.server.lifecycle import serve

    config = load_config(args.config)
    if args.host:
        config.server.host = args.host
    if args.port:
        config.server.port = args.port
    setup_logging(config.server.log_level, config.server.log_format)
    keyring = KeyRing(config.auth.keys, os.environ)
    # Store keys count too; the store is only opened when they would make the difference.
    store_keys = not keyring.enabled and config.server.host not in LOOPBACK_HOSTS and \
        accounts_cli.store_has_keys(config)
    check_bind(config.server.host, keyring, store_keys)
    app = create_app(config)
    _use_uvloop()
    s = config.server
    asyncio.run(serve(app, s.host, s.port, app[LIFECYCLE], s.drain_delay, s.drain_timeout,
                      ready=f"relayport listening on http://{s.host}:{s.port}"))
    return 0


def _use_uvloop() -> None:
    """uvloop (the `fast` extra) roughly halves the event loop's share of each call."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _plugins(args: argparse.Namespace) -> int:
    from relayport.plugins import load_plugins
    from relayport.server.ops_routes import describe_plugins

    info = describe_plugins(load_plugins())
    if args.json:
        print(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return 0
    for p in info["plugins"]:
        print(f"{p['name']}  {p['distribution'] or '-'} {p['version'] or ''}".rstrip())
        for prov in p["providers"]:
            print(f"  provider {prov['name']}: {', '.join(prov['capabilities'])}"
                  f"  (key: {' or '.join(prov['key_env']) or 'none'})")
        print(f"  hooks: {', '.join(p['hooks'])}")
    for f in info["failed"]:
        print(f"{f['name']}  FAILED: {f['error']}")
    if not info["plugins"] and not info["failed"]:
        print("no vendor plugins installed (pip install relayport-openai, ...)")
    return 0


def _build(config: Config) -> object:
    from relayport.plugins import load_plugins
    from relayport.routing import Router

    return Router(config, load_plugins())


def _models(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    router = _build(config)
    rows = [
        {"name": name, "provider": dep.provider.name, "model": dep.model, "base_url": dep.base_url,
         "key": "set" if dep.api_key else "missing"}
        for name, dep in router.names()  # type: ignore[attr-defined]
    ]
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    else:
        for r in rows:
            print(f"{r['name']}  -> {r['provider']}/{r['model']}  {r['base_url']}  key {r['key']}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from relayport.server.auth import KeyRing, check_bind

    config = load_config(args.config)
    router = _build(config)
    check_bind(config.server.host, KeyRing(config.auth.keys, os.environ))
    # A provider with fetched credentials (Entra ID, Google service accounts) needs no key.
    missing = [name for name, dep in router.names()  # type: ignore[attr-defined]
               if dep.provider.key_env and not dep.api_key and dep.provider.credentials is None]
    for name in missing:
        print(f"warning: model {name!r} has no vendor key (set it in api_key or the provider's env var)",
              file=sys.stderr)
    print(f"{config.source}: OK ({len(config.models)} model entries)")
    # The routing table: which deployments serve each name, in which tier, with which fallbacks.
    for line in router.explain():  # type: ignore[attr-defined]
        print("  " + line)
    return 0


def _new_plugin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from relayport.scaffold import write_plugin

    try:
        root = write_plugin(args.name, Path(args.dir), args.openai_compatible)
    except (ValueError, FileExistsError) as exc:
        print(f"relayport: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {root}\nnext: cd {root} && pip install -e '.[test]' && pytest")
    return 0

