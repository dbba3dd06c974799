"""Default prices shipped by vendor plugins (issue 14): every sheet loads and validates, the
config overrides them, other currencies need a rate, and a mixed run priced from the defaults
costs exactly the hand-computed totals."""

from __future__ import annotations

import datetime
import fnmatch
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import attrs
import httpx
import openai
import orjson
import pytest

from relayport.accounts.live import Accounts
from relayport.accounts.money import to_units
from relayport.accounts.prices import Price, price_table
from relayport.accounts.sheet import PriceSheet, parse_sheet
from relayport.calls import CallRecord
from relayport.cli import main
from relayport.config import BillingConfig, ConfigError, load_config
from relayport.model.usage import Usage
from relayport.plugins import load_plugins
from relayport.testing.fakes import FakeOpenAI
from relayport_anthropic.testing import FakeAnthropic
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)
from tests.test_accounts_gateway import ADMIN, admin, create

M = Decimal(10**6)
TODAY = datetime.date.today()


def _specs() -> dict[str, Any]:
    return {name: entry.spec for name, entry in load_plugins({}).providers.items()}


def _sheet(**over: Any) -> dict[str, Any]:
    base = {"currency": "USD", "source": "https://vendor.example/pricing", "read": datetime.date(2026, 11, 30),
            "models": {"vm-1": {"input": 1, "output": 2}}}
    return {**base, **over}


@attrs.frozen
class _Model:  # what price_table reads of a [[models]] entry
    name: str
    provider: str
    model: str | None = None
    price: dict[str, Any] | None = None


# ---------------------------------------------------------------------------- the shipped data

def test_every_installed_sheet_loads_and_is_well_formed() -> None:
    shipped = {name: spec.prices.load() for name, spec in _specs().items() if spec.prices is not None}
    # The vendors whose official pages the figures were read from ship a sheet.
    assert {"anthropic", "deepseek", "xai"} <= set(shipped)
    for name, sheet in shipped.items():
        assert sheet.read <= TODAY, name
        assert sheet.entries, name
        for i, e in enumerate(sheet.entries):
            assert e.source.startswith("https://"), (name, e.pattern)
            # Every figure written is a positive known price, in money units as written.
            for field, amount in e.table.items():
                assert getattr(e.price, field) == to_units(amount) > 0, (name, e.pattern, field)
            # An earlier glob must not swallow a later key (the later entry would never be used).
            for earlier in sheet.entries[:i]:
                if any(c in earlier.pattern for c in "*?["):
                    assert not fnmatch.fnmatchcase(e.pattern, earlier.pattern), (name, earlier.pattern, e.pattern)


def test_shipped_figures_are_the_vendor_pages() -> None:
    table = price_table([], _specs(), BillingConfig())
    opus = table.get("x", "anthropic", "claude-opus-4-5-20251101")
    assert opus == Price(input=to_units(5), output=to_units(25), cached_input=to_units("0.5"),
                         cache_write=to_units("6.25"))
    # An exact id is not caught by a neighbour's glob: Sonnet 5 is not Sonnet 4.5.
    assert table.get("x", "anthropic", "claude-sonnet-5") == Price(
        input=to_units(2), output=to_units(10), cached_input=to_units("0.2"), cache_write=to_units("2.5"))
    assert table.get("x", "deepseek", "deepseek-reasoner") == Price(
        input=to_units("0.56"), output=to_units("1.68"), cached_input=to_units("0.07"))
    assert table.get("x", "xai", "grok-3-mini-fast-latest") == Price(
        input=to_units("0.6"), output=to_units(4), cached_input=to_units("0.15"))
    assert table.get("x", "xai", "grok-3").input == to_units(3)
    assert table.get("x", "xai", "grok-4-0709") is None  # not on the page read
    assert table.get("x", "anthropic", "claude-made-up-9") is None
    assert table.get("x", "deepseek", "claude-opus-4-5") is None  # sheets are per provider


@pytest.mark.parametrize(("over", "message"), [
    ({"currency": "usd"}, "currency"),
    ({"source": "http://vendor.example"}, "source"),
    ({"read": "2026-11-30"}, "read must be the date"),
    ({"models": {}}, "at least one model"),
    ({"models": {"vm-1": {"input": 0, "output": 2}}}, "vm-1'].input: must be positive"),
    ({"models": {"vm-1": {"input": -1}}}, "must not be negative"),
    ({"models": {"vm-1": {"inputs": 1}}}, "unknown price key(s) inputs"),
    ({"models": {"vm-1": {"input": "x"}}}, "not an amount"),
    ({"models": {"vm-1": {"source": "https://vendor.example/x"}}}, "no price"),
    ({"extra": 1}, "unknown key(s) extra"),
])
def test_a_malformed_sheet_is_refused_naming_what_is_wrong(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="sheet.toml") as err:
        parse_sheet(_sheet(**over), "sheet.toml")
    assert message in str(err.value)


def test_a_third_party_plugin_ships_its_own_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "acme_prices_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "prices.toml").write_text(
        'currency = "USD"\nsource = "https://acme.example/pricing"\nread = 2026-11-02\n[models]\n'
        '"acme-1" = { input = 0.5, output = 1.5 }\n'
        '"acme-1-*" = { input = 0.25, output = 1, source = "https://acme.example/pricing#old" }\n'
        '"acme-img" = { image = 0.04 }\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    sheet = PriceSheet("acme_prices_pkg").load()
    assert sheet.read == datetime.date(2026, 11, 2) and sheet.currency == "USD"
    assert sheet.lookup("acme-1").price == Price(input=to_units("0.5"), output=to_units("1.5"))
    dated = sheet.lookup("acme-1-2026-01")
    assert dated.price.input == to_units("0.25") and dated.source == "https://acme.example/pricing#old"
    assert sheet.lookup("acme-img").price.image == to_units("0.04")
    assert sheet.lookup("acme-2") is None
    # A missing file fails when the sheet is read, naming it.
    with pytest.raises(ValueError, match="acme_prices_pkg/nope.toml"):
        PriceSheet("acme_prices_pkg", "nope.toml").load()


# ---------------------------------------------------------------------------- precedence

class _Spec:
    def __init__(self, sheet: dict[str, Any]) -> None:
        self.prices = _Loaded(parse_sheet(sheet, "test"))


class _Loaded:
    def __init__(self, prices: Any) -> None:
        self._p = prices

    def load(self) -> Any:
        return self._p


def test_config_prices_override_the_defaults() -> None:
    specs = {"v": _Spec(_sheet(models={"vm-1": {"input": 1, "output": 2}, "vm-2": {"input": 3, "output": 4}}))}
    models = [
        _Model("own", "v", "vm-1", {"input": 9, "output": 9}),   # its own price wins
        _Model("pair", "other", "x", {"input": 7, "output": 8}),
        _Model("pair", "v", "vm-2"),                             # the name's price wins over vm-2's default
        _Model("plain", "v", "vm-1"),                            # the default
        _Model("none", "v", "vm-9"),                             # no price anywhere
    ]
    table = price_table(models, specs, BillingConfig())
    assert table.get("own", "v", "vm-1") == Price(input=to_units(9), output=to_units(9))
    assert table.get("pair", "v", "vm-2") == Price(input=to_units(7), output=to_units(8))
    assert table.get("plain", "v", "vm-1") == Price(input=to_units(1), output=to_units(2))
    assert table.get("none", "v", "vm-9") is None
    # Off: only the config's prices.
    off = price_table(models, specs, BillingConfig(default_prices=False))
    assert off.get("plain", "v", "vm-1") is None and off.get("own", "v", "vm-1") is not None


def test_a_sheet_in_another_currency_needs_a_rate(caplog: pytest.LogCaptureFixture) -> None:
    specs = {"cn": _Spec(_sheet(currency="CNY", models={"cm-1": {"input": 2, "output": 8, "cached_input": 0.5}}))}
    with caplog.at_level(logging.WARNING, "relayport.accounts"):
        table = price_table([_Model("m", "cn", "cm-1")], specs, BillingConfig(currency="USD"))
    assert table.get("m", "cn", "cm-1") is None  # never charged as if CNY were USD
    assert "rates.CNY" in caplog.text
    # Installed, but no configured model goes to it: nothing to warn about.
    caplog.clear()
    with caplog.at_level(logging.WARNING, "relayport.accounts"):
        price_table([_Model("m", "other", "x")], specs, BillingConfig(currency="USD"))
    assert "rates.CNY" not in caplog.text
    rated = price_table([], specs, BillingConfig(currency="USD", rates={"CNY": 0.14}))
    assert rated.get("m", "cn", "cm-1") == Price(input=to_units("0.28"), output=to_units("1.12"),
                                                 cached_input=to_units("0.07"))
    # Billing in the sheet's own currency needs no rate.
    same = price_table([], specs, BillingConfig(currency="CNY"))
    assert same.get("m", "cn", "cm-1") == Price(input=to_units(2), output=to_units(8), cached_input=to_units("0.5"))


def test_bad_rates_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text("[billing]\nrates = { CNY = -1 }\n")
    with pytest.raises(ConfigError, match="billing.rates.CNY"):
        load_config(str(path))


async def test_a_model_without_any_price_costs_unknown_not_zero() -> None:
    specs = {"v": _Spec(_sheet())}
    accounts = Accounts(store=None, prices=price_table([], specs, BillingConfig()), usage_log=False)  # type: ignore[arg-type]
    priced = CallRecord("r1", None, "a", "v", "d", "vm-1", 200, None, Usage(input_tokens=1000, output_tokens=500), 0.1)
    unpriced = CallRecord("r2", None, "b", "v", "d", "vm-9", 200, None, Usage(input_tokens=10, output_tokens=5), 0.1)
    accounts.observe(priced)
    accounts.observe(unpriced)
    assert priced.cost == (1000 * Decimal(1) + 500 * Decimal(2)) / M
    assert unpriced.cost is None


# ---------------------------------------------------------------------------- end to end

@pytest.fixture
def fake_anthropic():
    fake = FakeAnthropic(api_key="sk-ant-defaults").start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_deepseek():
    fake = FakeOpenAI(api_key="sk-ds-defaults", usage_style="deepseek")
    fake.start()
    yield fake
    fake.stop()


def opus(inp: int, read: int, written: int, out: int) -> Decimal:
    return (inp * Decimal(5) + read * Decimal("0.5") + written * Decimal("6.25") + out * Decimal(25)) / M


def deepseek(prompt: int, hit: int, completion: int) -> Decimal:
    return ((prompt - hit) * Decimal("0.56") + hit * Decimal("0.07") + completion * Decimal("1.68")) / M


def test_mixed_run_priced_from_the_defaults_matches_hand_computed_totals(
        relayport_gateway, store_url, fake_anthropic, fake_deepseek) -> None:  # noqa: F811
    gw = relayport_gateway({"server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]}, "models": [
        {"name": "opus", "provider": "anthropic", "model": "claude-opus-4-5-20251101",
         "base_url": fake_anthropic.base_url, "api_key": fake_anthropic.api_key},
        {"name": "opus-own", "provider": "anthropic", "model": "claude-opus-4-5-20251101",
         "base_url": fake_anthropic.base_url, "api_key": fake_anthropic.api_key,
         "price": {"input": 1, "output": 2}},
        {"name": "ds", "provider": "deepseek", "model": "deepseek-reasoner",
         "base_url": fake_deepseek.base_url, "api_key": fake_deepseek.api_key},
    ]}, env={"RELAYPORT_LOAD_PLUGINS": "anthropic,deepseek"})
    secret = create(gw, name="defaults", balance="5")
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)
    an = anthropic.Anthropic(base_url=gw.url, api_key=secret, max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]

    fake_anthropic.queue_text("a", usage={"input_tokens": 120, "cache_read_input_tokens": 2000,
                                          "cache_creation_input_tokens": 300, "output_tokens": 45})
    an.messages.create(model="opus", max_tokens=50, messages=msgs)
    fake_anthropic.queue_text("b c", usage={"input_tokens": 33, "output_tokens": 17})
    for _ in oa.chat.completions.create(model="opus", messages=msgs, stream=True):
        pass
    fake_anthropic.queue_text("d", usage={"input_tokens": 1000, "output_tokens": 1000})
    an.messages.create(model="opus-own", max_tokens=50, messages=msgs)
    # DeepSeek reports cache hits in its own field; reasoning tokens are output tokens.
    fake_deepseek.queue_text("e", usage=fake_deepseek.usage(4000, 0, cached=3000, reasoning=600))
    oa.chat.completions.create(model="ds", messages=msgs)
    fake_deepseek.queue_text("f g", usage=fake_deepseek.usage(900, 250, reasoning=100))
    for _ in oa.chat.completions.create(model="ds", messages=msgs, stream=True):
        pass

    want = {
        "opus": opus(120, 2000, 300, 45) + opus(33, 0, 0, 17),
        "opus-own": (1000 * Decimal(1) + 1000 * Decimal(2)) / M,
        "ds": deepseek(4000, 3000, 0) + deepseek(900, 0, 250),
    }
    got = {r["model"]: Decimal(r["cost"]) for r in admin(gw, "GET", "/admin/usage?by=model").json()["data"]}
    assert got == want
    shown = admin(gw, "GET", "/admin/keys/defaults").json()
    assert Decimal(shown["balance"]) == Decimal(5) - sum(want.values())

    # The admin API lists the same prices `relayport prices` does; a client key may not.
    listed = {r["model"]: r for r in admin(gw, "GET", "/admin/prices").json()["data"]}
    assert (listed["opus"]["source"], listed["opus-own"]["source"], listed["ds"]["source"]) == (
        "default", "config", "default")
    assert listed["ds"]["price"] == {"input": "0.56", "output": "1.68", "cached_input": "0.07"}
    shipped = admin(gw, "GET", "/admin/prices?all=1&model=deepseek-*").json()["data"]
    assert [r["upstream_model"] for r in shipped if r["source"] == "shipped"] == ["deepseek-chat",
                                                                                  "deepseek-reasoner"]
    denied = httpx.get(gw.url + "/admin/prices", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "admin_only"


def test_prices_cli_lists_where_each_price_comes_from(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYPORT_LOAD_PLUGINS", "anthropic,deepseek,openai")
    path = tmp_path / "p.toml"
    path.write_text(
        '[[models]]\nname = "opus"\nprovider = "anthropic"\nmodel = "claude-opus-4-5"\n'
        '[[models]]\nname = "mine"\nprovider = "deepseek"\nmodel = "deepseek-chat"\nprice = { input = 1, output = 2 }\n'
        '[[models]]\nname = "mystery"\nprovider = "openai"\nmodel = "gpt-made-up"\n')
    assert main(["prices", "--config", str(path), "--json"]) == 0
    rows = {r["model"]: r for r in orjson.loads(capsys.readouterr().out)["data"]}
    assert rows["opus"]["source"] == "default" and rows["opus"]["price"]["cache_write"] == "6.25"
    assert rows["opus"]["url"] == "https://platform.claude.com/docs/en/about-claude/pricing"
    assert rows["mine"]["source"] == "config" and rows["mine"]["price"] == {"input": "1", "output": "2"}
    assert rows["mystery"]["source"] == "unknown" and rows["mystery"]["price"] == {}
    assert main(["prices", "--config", str(path), "--model", "deepseek-*", "--all"]) == 0
    out = capsys.readouterr().out
    assert "mine  deepseek/deepseek-chat  input 1, output 2 USD  [config]" in out
    assert "(shipped)  deepseek/deepseek-reasoner  input 0.56, cached_input 0.07, output 1.68 USD" in out
    assert "opus" not in out


def test_a_broken_sheet_is_logged_and_skipped_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    pkg = tmp_path / "broken_prices_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "prices.toml").write_text('currency = "USD"\nsource = "https://x.example"\n[models]\n"a" = { input = 1 }\n')
    monkeypatch.syspath_prepend(str(tmp_path))

    class Spec:
        prices = PriceSheet("broken_prices_pkg")

    good = _Spec(_sheet())
    with caplog.at_level(logging.ERROR, "relayport.accounts"):
        table = price_table([], {"broken": Spec(), "good": good}, BillingConfig())
    assert "ignoring the prices broken ships" in caplog.text and "read must be the date" in caplog.text
    assert table.get("m", "broken", "a") is None
    assert table.get("m", "good", "vm-1") == Price(input=to_units(1), output=to_units(2))


async def test_usage_rows_keep_null_for_what_a_vendor_did_not_report(tmp_path: Path) -> None:
    # The store binds None through a registered adapter (a speed-up): it must still be NULL.
    import sqlite3

    from relayport.accounts.store import USAGE_COLUMNS, Charge, SQLiteStore

    store = SQLiteStore(str(tmp_path / "s.sqlite3"), inline_writes=True)
    await store.open()
    row = [None] * len(USAGE_COLUMNS)
    row[USAGE_COLUMNS.index("ts")] = 1.5
    row[USAGE_COLUMNS.index("model")], row[USAGE_COLUMNS.index("provider")] = "m", "p"
    row[USAGE_COLUMNS.index("status")], row[USAGE_COLUMNS.index("stream")] = 200, 0
    row[USAGE_COLUMNS.index("cost")] = 7
    await store.write([tuple(row)], [Charge("nobody", 7, "")])
    await store.close()
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        got = db.execute(f"SELECT {', '.join(USAGE_COLUMNS)} FROM rp_usage").fetchall()
        assert db.execute("SELECT COUNT(*) FROM rp_usage WHERE cached_tokens IS NULL AND error IS NULL").fetchone() == (1,)
    assert got == [tuple(row)]
