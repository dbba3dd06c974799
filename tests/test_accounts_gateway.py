"""Store keys through a running gateway: lifecycle, limits, budgets, balances, in every surface."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from relayport.testing.servers import GatewayHandle
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)

ADMIN = "adm-test-secret-0123456789"


def start(relayport_gateway, store_url: str, fake_openai, **extra: Any) -> GatewayHandle:  # noqa: F811
    models = extra.pop("models", None) or [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key,
         "price": {"input": 10000, "output": 10000}},
        {"name": "other", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key},
    ]
    auth = {"admin_keys": [ADMIN], **extra.pop("auth", {})}
    return relayport_gateway({"server": {"store": store_url}, "auth": auth, "models": models, **extra}, env={})


def admin(gw: GatewayHandle, method: str, path: str, key: str = ADMIN, **kw: Any) -> httpx.Response:
    return httpx.request(method, gw.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=10, **kw)


def create(gw: GatewayHandle, **spec: Any) -> str:
    r = admin(gw, "POST", "/admin/keys", json=spec)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def chat(gw: GatewayHandle, key: str, model: str = "gpt", **kw: Any) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}], **kw}, timeout=10)


def test_key_lifecycle_over_http(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai)
    r = admin(gw, "POST", "/admin/keys", json={"name": "app", "owner": "ana", "models": ["gpt"], "rpm": 100})
    assert r.status_code == 201
    made = r.json()
    secret = made["key"]
    assert made["name"] == "app" and made["status"] == "active" and made["key_hint"].endswith(secret[-4:])

    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)
    answer = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "echo: hi"

    listed = admin(gw, "GET", "/admin/keys").json()["data"]
    assert [k["name"] for k in listed] == ["app"] and secret not in str(listed)
    assert admin(gw, "GET", f"/admin/keys/{made['id']}").json()["owner"] == "ana"
    assert admin(gw, "GET", "/admin/keys/nobody").status_code == 404

    # Only admin keys reach /admin: a client key gets 403, an unknown one 401.
    assert admin(gw, "GET", "/admin/keys", key=secret).status_code == 403
    assert admin(gw, "GET", "/admin/keys", key="rp-wrong").status_code == 401
    assert httpx.get(gw.url + "/admin/keys").status_code == 401
    # ... and an admin key is not a client key.
    assert chat(gw, ADMIN).status_code == 401
    bad = admin(gw, "POST", "/admin/keys", json={"name": "x", "rpm": -1})
    assert bad.status_code == 400 and "rpm" in bad.json()["error"]["message"]

    # Revoked: the very next call is refused.
    assert admin(gw, "DELETE", "/admin/keys/app").json()["status"] == "revoked"
    with pytest.raises(openai.AuthenticationError) as exc:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    assert exc.value.status_code == 401 and "revoked" in exc.value.message
    assert secret not in exc.value.response.text

    # Rotation: a new secret for the same key; the old one stops.
    rotated = admin(gw, "POST", f"/admin/keys/{made['id']}/rotate").json()
    assert rotated["key"] != secret and chat(gw, secret).status_code == 401


def test_expired_key_gets_401(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai)
    soon = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 2))
    key = create(gw, name="short", expires=soon)
    assert chat(gw, key).status_code == 200
    time.sleep(2.2)
    r = chat(gw, key)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_model_outside_the_allow_list_gets_403_in_each_surface(relayport_gateway, store_url,  # noqa: F811
                                                                fake_openai) -> None:
    gw = start(relayport_gateway, store_url, fake_openai)
    key = create(gw, name="narrow", models=["gp?"])
    assert chat(gw, key).status_code == 200

    r = chat(gw, key, model="other")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "model_not_allowed" and "'other'" in r.json()["error"]["message"]

    claude = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as exc:
        claude.messages.create(model="other", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert exc.value.body["type"] == "error" and exc.value.body["error"]["type"] == "permission_error"

    g = httpx.post(gw.url + "/v1beta/models/other:generateContent", headers={"x-goog-api-key": key},
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, timeout=10)
    assert g.status_code == 403
    assert g.json()["error"]["status"] == "PERMISSION_DENIED" and "'other'" in g.json()["error"]["message"]
    assert len(fake_openai.requests) == 1  # refused calls never reach the vendor


def _parallel(n: int, call) -> list[httpx.Response]:
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


def test_rpm_holds_under_concurrent_load(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai)
    key = create(gw, name="rpm", rpm=5)
    results = _parallel(16, lambda: chat(gw, key))
    ok = [r for r in results if r.status_code == 200]
    limited = [r for r in results if r.status_code == 429]
    assert len(ok) == 5 and len(limited) == 11
    r = limited[0]
    assert r.json()["error"]["code"] == "rate_limit_exceeded" and r.json()["error"]["type"] == "requests"
    assert r.headers["x-ratelimit-limit-requests"] == "5" and r.headers["x-ratelimit-remaining-requests"] == "0"
    # The 60 s window counts in whole seconds, so the oldest call leaves it within 61 s.
    assert r.headers["x-ratelimit-reset-requests"].endswith("s") and 1 <= int(r.headers["Retry-After"]) <= 61
    assert len(fake_openai.requests) == 5


def test_tpm_holds_under_concurrent_load(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai)
    key = create(gw, name="tpm", tpm=100)
    workers, per_call = 4, 19  # the fake's default usage: 12 + 7
    results: list[httpx.Response] = []
    for _ in range(5):
        results += _parallel(workers, lambda: chat(gw, key))
    ok = [r for r in results if r.status_code == 200]
    assert len(ok) * per_call >= 100  # the limit is reached ...
    assert len(ok) * per_call < 100 + workers * per_call  # ... and overshot by at most one call per worker
    limited = [r for r in results if r.status_code == 429]
    assert limited and limited[0].json()["error"]["type"] == "tokens"
    assert limited[0].headers["x-ratelimit-limit-tokens"] == "100"


def test_concurrency_limit(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai)
    key = create(gw, name="one", max_concurrency=1)
    fake_openai.queue_text("slow", delay=1.0)
    fake_openai.queue_text("slow", delay=1.0)
    statuses = sorted(r.status_code for r in _parallel(2, lambda: chat(gw, key, stream=True)))
    assert statuses == [200, 429]
    assert chat(gw, key).status_code == 200  # the slot is given back


def test_budget_exhaustion_stops_the_next_call(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai)
    key = create(gw, name="budget", budget="0.5", period="day")  # each call: 19 tokens x 0.01 = 0.19
    assert [chat(gw, key).status_code for _ in range(3)] == [200, 200, 200]
    r = chat(gw, key)
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "insufficient_quota" and "budget" in r.json()["error"]["message"]
    assert len(fake_openai.requests) == 3
    shown = admin(gw, "GET", "/admin/keys/budget").json()
    assert shown["spent"] == "0.57" and shown["spent_this_period"] == "0.57"


def test_balance_is_shown_spent_and_topped_up(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai)
    key = create(gw, name="prepaid", balance="0.5")
    seen = [chat(gw, key).headers.get("X-Account-Balance") for _ in range(3)]
    assert seen == ["0.31", "0.12", "-0.07"]  # never below zero by more than one call
    r = chat(gw, key)
    assert r.status_code == 402 and "balance" in r.json()["error"]["message"]
    assert r.headers["X-Account-Balance"] == "-0.07"
    assert admin(gw, "POST", "/admin/keys/prepaid/topup", json={"amount": "1"}).json()["balance"] == "0.93"
    stream = httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {key}"},
                        json={"model": "gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
                        timeout=10)
    assert stream.status_code == 200 and stream.headers["X-Account-Balance"] == "0.93"
    # Keys without a balance get no such header.
    plain = create(gw, name="plain")
    assert "X-Account-Balance" not in chat(gw, plain).headers


def test_hanging_up_midway_still_spends_the_balance(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    """The vendor's usage comes at a stream's end: a client that hangs up before it is charged an
    estimate (relayport.interrupted), at least a token per word it got, so a prepaid key cannot
    stream free, and its row says how the call ended."""
    from decimal import Decimal

    gw = start(relayport_gateway, store_url, fake_openai)
    key = create(gw, name="leaver", balance="1")
    fake_openai.queue_text(" ".join(f"w{i}" for i in range(400)), delay=0.01)
    got = b""
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
                      timeout=10) as r:
        for part in r.iter_raw():
            got += part
            if b'" w20"' in got:
                break  # 21 words read (w0..w20), then the client hangs up
    deadline = time.monotonic() + 5
    while fake_openai.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    [row] = admin(gw, "GET", "/admin/usage?by=key").json()["data"]
    assert row["key"] == "leaver" and row["calls"] == 1
    assert row["prompt_tokens"] == 5  # "hi": 1 token + 4 of framing
    assert 21 <= row["completion_tokens"] <= 60  # what it got, and what the gateway read on before it saw
    cost = Decimal(row["cost"])
    assert cost == (5 + row["completion_tokens"]) * Decimal("0.01")  # 10,000 per million tokens
    assert Decimal(admin(gw, "GET", "/admin/keys/leaver").json()["balance"]) == 1 - cost


def test_toml_keys_keep_working_beside_store_keys(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    gw = start(relayport_gateway, store_url, fake_openai, auth={"keys": ["sk-toml-key"]})
    stored = create(gw, name="stored")
    assert chat(gw, "sk-toml-key").status_code == 200
    assert chat(gw, stored).status_code == 200
    assert chat(gw, "sk-nope").status_code == 401


def test_no_meter_until_the_store_has_keys(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    from relayport.server.keys import GATEWAY

    gw = start(relayport_gateway, store_url, fake_openai)
    gateway = gw.server.app[GATEWAY]
    others = list(gateway.observers)  # e.g. /metrics, when prometheus-client is installed
    assert not any(type(getattr(o, "__self__", None)).__name__ == "Accounts" for o in others)  # no meter yet
    assert httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "gpt", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200  # open, on loopback
    key = create(gw, name="first")
    assert len(gateway.observers) == len(others) + 1
    # From the first store key on, calls need a key.
    assert httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "gpt", "messages": [{"role": "user", "content": "hi"}]}).status_code == 401
    assert chat(gw, key).status_code == 200
    # And from then on every call is logged (no [billing] usage_log: the store having keys decides);
    # the open call before the first key was not.
    rows = admin(gw, "GET", "/admin/usage?by=key").json()["data"]
    assert [(r["key"], r["calls"]) for r in rows] == [("first", 1)]
