"""`relayport prices [--model M] [--all] [--json]`: the price each configured model is charged
at, and where it comes from (the config, a plugin's shipped sheet, or nowhere: cost unknown)."""

from __future__ import annotations

import argparse
import fnmatch
from typing import Any

import orjson

from relayport.accounts.money import format_amount
from relayport.accounts.prices import PRICE_FIELDS, Price, price_table
from relayport.config import load_config


def add_parser(sub: Any) -> None:
    p = sub.add_parser("prices", help="effective prices of the configured models, and the shipped defaults")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--model", metavar="GLOB", help="only model names (or vendor model ids) matching this")
    p.add_argument("--all", action="store_true", help="also every price the installed plugins ship")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _figures(price: Price | None) -> dict[str, str]:
    if price is None:
        return {}
    out = {}
    for field in PRICE_FIELDS:
        units = getattr(price, field)
        if units:  # unset (None) or 0: not charged separately
            out[field] = format_amount(units)
    return out


def rows(config: Any, specs: dict[str, Any], pattern: str | None = None, shipped: bool = False) -> list[dict[str, Any]]:
    """One row per configured deployment (and with `shipped`, per entry of each plugin's sheet)."""
    table = price_table(config.models, specs, config.billing)
    currency = config.billing.currency
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for m in config.models:
        upstream = m.model or m.name
        key = (m.name, m.provider, upstream)
        if key in seen or (pattern and not (fnmatch.fnmatchcase(m.name, pattern)
                                            or fnmatch.fnmatchcase(upstream, pattern))):
            continue
        seen.add(key)
        configured = table.configured.get(key) or table.configured.get(m.name)
        row: dict[str, Any] = {"model": m.name, "provider": m.provider, "upstream_model": upstream}
        if configured is not None:
            row.update(source="config", price=_figures(configured), currency=currency)
        elif (price := table.default(m.provider, upstream)) is not None:
            sheet = table.shipped[m.provider]
            entry = sheet.lookup(upstream)
            row.update(source="default", price=_figures(price), currency=currency,
                       sheet_currency=sheet.currency, url=entry.source if entry else sheet.source,
                       read=sheet.read.isoformat())
        else:
            row.update(source="unknown", price={}, currency=currency)
        out.append(row)
    if shipped:
        for provider, spec in sorted(specs.items()):
            if getattr(spec, "prices", None) is None:
                continue
            try:
                own = spec.prices.load()
            except ValueError:  # logged by price_table; its models cost unknown
                continue
            for e in own.entries:
                if pattern and not fnmatch.fnmatchcase(e.pattern, pattern):
                    continue
                out.append({"model": None, "provider": provider, "upstream_model": e.pattern,
                            "source": "shipped", "price": {k: str(v) for k, v in e.table.items()},
                            "currency": own.currency, "url": e.source, "read": own.read.isoformat()})
    return out


def run(args: argparse.Namespace) -> int:
    from relayport.plugins import load_plugins

    config = load_config(args.config)
    specs = {name: entry.spec for name, entry in load_plugins().providers.items()}
    found = rows(config, specs, args.model, args.all)
    if args.json:
        print(orjson.dumps({"object": "list", "data": found}, option=orjson.OPT_INDENT_2).decode())
        return 0
    for r in found:
        name = r["model"] or "(shipped)"
        figures = ", ".join(f"{k} {v}" for k, v in r["price"].items()) or "no price: cost unknown"
        where = f"  [{r['source']}" + (f" {r['url']} read {r['read']}" if "url" in r else "") + "]"
        print(f"{name}  {r['provider']}/{r['upstream_model']}  {figures} {r['currency']}{where}")
    return 0
