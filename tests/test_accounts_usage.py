"""Usage and cost of a mixed run equal hand-computed totals, on both stores; the CLI and the
HTTP reports agree; the key never shows up in the store, logs or errors."""

from __future__ import annotations

import csv
import io
import logging
import time
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from relayport.accounts.records import digest
from relayport.calls import CallRecord
from relayport.cli import main
from relayport.server.keys import GATEWAY
from relayport_anthropic.testing import FakeAnthropic
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)
from tests.test_accounts_gateway import ADMIN, admin, create

M = Decimal(10**6)
CLAUDE = {"input": 3, "output": 15, "cached_input": 0.3, "cache_write": 3.75}
GPT = {"input": 0.15, "output": 0.6, "cached_input": 0.075, "reasoning": 2.4}


def claude_cost(inp: int, read: int, written: int, out: int) -> Decimal:
    return (inp * Decimal("3") + read * Decimal("0.3") + written * Decimal("3.75") + out * Decimal("15")) / M


def gpt_cost(prompt: int, cached: int, completion: int, reasoning: int) -> Decimal:
    return ((prompt - cached) * Decimal("0.15") + cached * Decimal("0.075")
            + (completion - reasoning) * Decimal("0.6") + reasoning * Decimal("2.4")) / M


@pytest.fixture
def fake_anthropic():
    fake = FakeAnthropic(api_key="sk-ant-usage").start()
    yield fake
    fake.stop()


# The gateway charges its calls through the meter's direct entry when the meter is its only
# observer, and through a CallRecord when others watch too: both must charge and log the same.
@pytest.mark.parametrize("watched", [False, True], ids=["meter-alone", "other-observers"])
def test_mixed_run_matches_hand_computed_totals(relayport_gateway, store_url, fake_openai,  # noqa: F811
                                                fake_anthropic, caplog, watched: bool) -> None:
    caplog.set_level(logging.DEBUG)
    gw = relayport_gateway({"server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]},
                            "metrics": {"enabled": watched},
                            "billing": {"currency": "EUR"}, "models": [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key,
         "price": GPT},
        {"name": "claude", "provider": "anthropic", "model": "claude-sonnet-4-5",
         "base_url": fake_anthropic.base_url, "api_key": fake_anthropic.api_key, "price": CLAUDE},
    ]}, env={"RELAYPORT_LOAD_PLUGINS": "openai,anthropic"})
    secret = create(gw, name="mixed", balance="10")
    other = create(gw, name="other")
    gateway = gw.server.app[GATEWAY]
    seen: list[CallRecord] = []
    if watched:
        gateway.observers.append(seen.append)
    else:
        assert gateway.meter is not None and len(gateway.observers) == 1  # the direct entry serves
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)
    an = anthropic.Anthropic(base_url=gw.url, api_key=secret, max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]

    # OpenAI-compatible, passed through: JSON, then a stream with its final usage chunk.
    fake_openai.queue_text("a", usage=fake_openai.usage(1000, 300, cached=400, reasoning=120))
    oa.chat.completions.create(model="gpt", messages=msgs)
    fake_openai.queue_text("b c", usage=fake_openai.usage(2000, 500, reasoning=200))
    for _ in oa.chat.completions.create(model="gpt", messages=msgs, stream=True,
                                        stream_options={"include_usage": True}):
        pass
    # Claude, translated for the OpenAI client, JSON and stream.
    fake_anthropic.queue_text("d", usage={"input_tokens": 100, "cache_read_input_tokens": 50,
                                          "cache_creation_input_tokens": 20, "output_tokens": 30})
    oa.chat.completions.create(model="claude", messages=msgs)
    fake_anthropic.queue_text("e f", usage={"input_tokens": 200, "output_tokens": 40})
    for _ in oa.chat.completions.create(model="claude", messages=msgs, stream=True,
                                        stream_options={"include_usage": True}):
        pass
    # Claude, passed through for the Anthropic client, JSON and stream.
    fake_anthropic.queue_text("g", usage={"input_tokens": 10, "cache_read_input_tokens": 1000,
                                          "output_tokens": 5})
    an.messages.create(model="claude", max_tokens=50, messages=msgs)
    fake_anthropic.queue_text("h i", usage={"input_tokens": 7, "cache_creation_input_tokens": 300,
                                            "output_tokens": 11})
    with an.messages.stream(model="claude", max_tokens=50, messages=msgs) as s:
        s.until_done()
    # Another key's call, to tell keys apart in the report.
    fake_openai.queue_text("j", usage=fake_openai.usage(10, 10))
    httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {other}"},
               json={"model": "gpt", "messages": msgs}, timeout=10).raise_for_status()

    gpt = gpt_cost(1000, 400, 300, 120) + gpt_cost(2000, 0, 500, 200)
    claude = (claude_cost(100, 50, 20, 30) + claude_cost(200, 0, 0, 40) + claude_cost(10, 1000, 0, 5)
              + claude_cost(7, 0, 300, 11))
    by_model = {r["model"]: r for r in admin(gw, "GET", "/admin/usage?by=model&key=mixed").json()["data"]}
    assert Decimal(by_model["gpt"]["cost"]) == gpt and by_model["gpt"]["currency"] == "EUR"
    assert Decimal(by_model["claude"]["cost"]) == claude
    assert by_model["gpt"]["calls"] == 2 and by_model["claude"]["calls"] == 4
    assert (by_model["gpt"]["prompt_tokens"], by_model["gpt"]["completion_tokens"]) == (3000, 800)
    assert (by_model["gpt"]["cached_tokens"], by_model["gpt"]["reasoning_tokens"]) == (400, 320)
    assert by_model["claude"]["prompt_tokens"] == 170 + 200 + 1010 + 307
    assert (by_model["claude"]["cached_tokens"], by_model["claude"]["cache_write_tokens"]) == (1050, 320)
    assert by_model["claude"]["completion_tokens"] == 30 + 40 + 5 + 11

    by_key = {r["key"]: r for r in admin(gw, "GET", "/admin/usage?by=key").json()["data"]}
    assert Decimal(by_key["mixed"]["cost"]) == gpt + claude
    assert Decimal(by_key["other"]["cost"]) == gpt_cost(10, 0, 10, 0)
    shown = admin(gw, "GET", "/admin/keys/mixed").json()
    assert Decimal(shown["balance"]) == Decimal(10) - gpt - claude and Decimal(shown["spent"]) == gpt + claude

    if watched:  # the other observers saw every call, with the cost the meter found
        assert len(seen) == 7 and sum(Decimal(r.cost or 0) for r in seen) == gpt + claude + gpt_cost(10, 0, 10, 0)

    table = list(csv.DictReader(io.StringIO(admin(gw, "GET", "/admin/usage?by=model&format=csv").text)))
    assert {r["model"]: Decimal(r["cost"]) for r in table} == {
        "claude": claude, "gpt": gpt + gpt_cost(10, 0, 10, 0)}

    # The secrets are nowhere: not in the store, not in a log line.
    for key in (secret, other):
        assert key not in caplog.text
        assert digest(key) not in caplog.text
    if not store_url.startswith("postgresql"):
        raw = b"".join(p.read_bytes() for p in Path(store_url).parent.glob("state.sqlite3*"))
        assert secret.encode() not in raw and other.encode() not in raw
        assert digest(secret).encode() in raw  # (the check above looks at the right bytes)


def within_a_second(ok) -> None:
    """`ok()` holds for every attempt that starts a second or more from now."""
    deadline = time.monotonic() + 1.0
    while True:
        started = time.monotonic()
        if ok():
            return
        assert started < deadline
        time.sleep(0.05)


def test_keys_and_usage_cli_share_the_store_with_a_running_server(relayport_gateway, tmp_path, capsys,
                                                                  fake_openai) -> None:
    state = tmp_path / "state.sqlite3"
    config = tmp_path / "relayport.toml"
    config.write_text(f'[server]\nstate_path = "{state}"\n[billing]\ncurrency = "USD"\n'
                      f'[[models]]\nname = "gpt"\nprovider = "openai"\nbase_url = "{fake_openai.base_url}"\n'
                      f'api_key = "{fake_openai.api_key}"\nprice = {{ input = 10000, output = 10000 }}\n')
    # A TOML key closes the gateway from the start: a 200 below means the server knows the new key.
    gw = relayport_gateway({"server": {"state_path": str(state)}, "auth": {"keys": ["sk-toml"]}, "models": [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key,
         "price": {"input": 10000, "output": 10000}}]}, env={})

    def cli(*args: str) -> str:
        capsys.readouterr()
        assert main([*args, "--config", str(config)]) == 0
        return capsys.readouterr().out

    secret = cli("keys", "create", "--name", "ci", "--models", "gp*", "--rpm", "100", "--balance", "1").splitlines()[-1]
    assert secret.startswith("rp-")

    answered = []

    def call() -> int:
        status = httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                            json={"model": "gpt", "messages": [{"role": "user", "content": "hi"}]},
                            timeout=10).status_code
        answered.append(status)
        return status

    within_a_second(lambda: call() == 200)  # the server sees the new key
    listed = cli("keys", "list", "--json")
    assert '"name": "ci"' in listed and secret not in listed
    assert "ci" in cli("keys", "show", "ci") and "balance=" in cli("keys", "show", "ci")
    cli("keys", "topup", "ci", "2.5")
    deadline = time.monotonic() + 5.0  # written every 0.5 s; generous for a loaded machine
    while '"key": "ci"' not in (usage := cli("usage", "--by", "key", "--format", "json")):
        assert time.monotonic() < deadline  # the server writes its usage within a second
        time.sleep(0.1)
    assert '"key": "ci"' in usage and '"cost": "0.19"' in usage
    assert "0.19 USD" in cli("usage", "--by", "model", "--since", "1d")
    cli("keys", "revoke", "ci")
    within_a_second(lambda: call() == 401)  # ... and a revocation
    left = f'"balance": "{Decimal("3.5") - Decimal("0.19") * answered.count(200)}"'
    deadline = time.monotonic() + 5.0
    while left not in cli("keys", "show", "ci", "--json"):  # the last call's charge is written too
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert main(["keys", "revoke", "nobody", "--config", str(config)]) == 1
    assert "no key" in capsys.readouterr().err
