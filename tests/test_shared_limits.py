"""Rate and concurrency limits of store keys hold across gateway instances sharing a Redis
(`[server] limits`): two gateways on one PostgreSQL key store, under concurrent load."""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from aiohttp import web

from relayport.testing.servers import GatewayHandle, ServerThread
from tests.accounts_helpers import pg_schema
from tests.test_accounts_gateway import ADMIN, create

REDIS = "redis://127.0.0.1:6379/0"
PROMPT, COMPLETION = 100, 50


class Upstream:
    """An OpenAI-compatible chat endpoint that counts calls and the most it held at once."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.most = 0
        self.lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        self.server = ServerThread(app).start()

    async def chat(self, request: web.Request) -> web.Response:
        await request.read()
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            with self.lock:
                self.in_flight -= 1
        return web.json_response({
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION,
                      "total_tokens": PROMPT + COMPLETION}})


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.server.stop()


@pytest.fixture
def pg_store() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of the test's own; its keys are deleted afterwards."""
    name = "rp-test-" + secrets.token_hex(6)
    yield name
    client = redis.Redis.from_url(REDIS)
    try:
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)
    finally:
        client.close()


def redis_keys(prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(REDIS)
    try:
        return list(client.scan_iter(f"{prefix}:*"))
    finally:
        client.close()


def two_gateways(relayport_gateway, store: str, upstream: Upstream, limits: str) -> list[GatewayHandle]:
    config: dict[str, Any] = {
        "server": {"store": store, "limits": limits, "log_requests": False}, "auth": {"admin_keys": [ADMIN]},
        "models": [{"name": "gpt", "provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-up",
                    "base_url": upstream.server.url + "/v1"}]}
    return [relayport_gateway(config, env={"RELAYPORT_LOAD_PLUGINS": "openai"}) for _ in range(2)]


def keys_loaded(gws: list[GatewayHandle]) -> None:
    """Wait until every gateway has loaded the store's (only) key: a call without one gets 401.
    Such a call spends nothing of the key's rates."""
    deadline = time.time() + 5
    while any(call(gw, "rp-not-a-key").status_code != 401 for gw in gws):
        assert time.time() < deadline, "a gateway never loaded the key"
        time.sleep(0.05)


def key_on_both(gws: list[GatewayHandle], **spec: Any) -> str:
    """A key made through the first gateway, once the second has loaded it from the store.

    The second started with an empty store, so until its next reload it asks for no key at all
    (a gateway needs keys once its store has one): it has loaded the key when a call without one
    gets 401 and a call with it does not."""
    secret = create(gws[0], **spec)
    deadline = time.time() + 5
    while call(gws[1], "rp-not-a-key").status_code != 401 or call(gws[1], secret).status_code == 401:
        assert time.time() < deadline, "the second gateway never saw the key"
        time.sleep(0.1)
    return secret


def call(gw: GatewayHandle, secret: str) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                      json={"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}, timeout=20)


def load(gws: list[GatewayHandle], secret: str, n: int, workers: int) -> list[httpx.Response]:
    """`n` calls from `workers` concurrent clients, alternating between the gateways."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda i: call(gws[i % len(gws)], secret), range(n)))


def test_rpm_holds_across_two_instances(relayport_gateway, pg_store, upstream, prefix) -> None:
    gws = two_gateways(relayport_gateway, pg_store, upstream, f"{REDIS}?prefix={prefix}")
    secret = create(gws[0], name="burst", rpm=12)
    keys_loaded(gws)  # both gateways reload keys every 0.5 s (no call spent on finding out)
    before = upstream.calls
    answers = load(gws, secret, 40, workers=8)
    ok = [r for r in answers if r.status_code == 200]
    limited = [r for r in answers if r.status_code == 429]
    assert len(ok) == 12 and len(limited) == 28, [r.status_code for r in answers]  # exact: one atomic count
    assert upstream.calls - before == 12
    r = limited[0]
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert r.headers["x-ratelimit-limit-requests"] == "12" and r.headers["x-ratelimit-remaining-requests"] == "0"
    # A second's bucket leaves the window at the end of that second plus 60 s: up to 61 s away.
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    assert {g for g in range(2) if any(a.status_code == 200 for a in answers[g::2])} == {0, 1}  # both served
    assert redis_keys(prefix)  # the windows live in Redis


def test_rpm_without_shared_limits_is_per_instance(relayport_gateway, pg_store, upstream) -> None:
    """The control: the same load without `[server] limits` lets each instance allow the full rate."""
    gws = two_gateways(relayport_gateway, pg_store, upstream, "")
    secret = create(gws[0], name="burst", rpm=12)
    keys_loaded(gws)
    answers = load(gws, secret, 40, workers=8)
    assert sum(r.status_code == 200 for r in answers) == 24


def test_concurrency_holds_across_two_instances(relayport_gateway, pg_store, upstream, prefix) -> None:
    gws = two_gateways(relayport_gateway, pg_store, upstream, f"{REDIS}?prefix={prefix}")
    secret = key_on_both(gws, name="slow", max_concurrency=3)
    upstream.delay = 0.4
    upstream.most = 0
    answers = load(gws, secret, 16, workers=16)
    assert upstream.most <= 3, upstream.most
    codes = [r.status_code for r in answers]
    assert codes.count(200) >= 3 and codes.count(200) + codes.count(429) == 16, codes
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"]["code"] == "concurrency_limit_exceeded" and refused.headers["Retry-After"] == "1"
    # the slots come back when the calls end, on either instance
    upstream.delay = 0.0
    time.sleep(0.2)
    assert all(r.status_code == 200 for r in load(gws, secret, 6, workers=3))


def test_a_sequential_client_never_meets_its_own_last_slot(relayport_gateway, pg_store, upstream, prefix,
                                                           monkeypatch) -> None:
    """With one slot, each call follows the last one's answer at once, alternating instances: the
    slot is back in Redis before the answer is written, so none is refused, even when Redis is
    slow to take it back (here 50 ms, longer than a client needs to send its next call)."""
    from relayport.accounts.shared_limits import RedisLimits

    give_back = RedisLimits._release

    async def slow_release(self: RedisLimits, key_id: str, lease: str) -> None:
        await asyncio.sleep(0.05)
        await give_back(self, key_id, lease)

    monkeypatch.setattr(RedisLimits, "_release", slow_release)
    gws = two_gateways(relayport_gateway, pg_store, upstream, f"{REDIS}?prefix={prefix}")
    secret = key_on_both(gws, name="serial", max_concurrency=1)
    codes = [call(gws[i % 2], secret).status_code for i in range(20)]
    assert codes == [200] * 20, codes


def test_tpm_overshoot_is_at_most_one_call_per_worker(relayport_gateway, pg_store, upstream, prefix) -> None:
    gws = two_gateways(relayport_gateway, pg_store, upstream, f"{REDIS}?prefix={prefix}")
    tpm, per_call, workers = 1500, PROMPT + COMPLETION, 4
    secret = key_on_both(gws, name="tokens", tpm=tpm)
    upstream.delay = 0.05
    answers = load(gws, secret, 60, workers=workers)
    ok = sum(r.status_code == 200 for r in answers)
    tokens = ok * per_call
    # key_on_both's look-up call was served too and counts in the window
    assert tpm <= tokens + per_call <= tpm + workers * per_call, (ok, tokens)
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["x-ratelimit-limit-tokens"] == str(tpm)


def test_keys_without_limits_never_ask_redis(relayport_gateway, pg_store, upstream, prefix) -> None:
    gws = two_gateways(relayport_gateway, pg_store, upstream, f"{REDIS}?prefix={prefix}")
    secret = key_on_both(gws, name="free", balance="5")
    assert all(r.status_code == 200 for r in load(gws, secret, 10, workers=2))
    assert redis_keys(prefix) == []


def test_redis_down_falls_back_to_this_instance_s_windows(relayport_gateway, pg_store, upstream) -> None:
    gws = two_gateways(relayport_gateway, pg_store, upstream, "redis://127.0.0.1:1/0")
    secret = create(gws[0], name="fallback", rpm=2)
    codes = [call(gws[0], secret).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # served, and still limited, without Redis


def test_reads_do_not_count_against_shared_rpm(relayport_gateway, pg_store, upstream, prefix) -> None:
    gws = two_gateways(relayport_gateway, pg_store, upstream, f"{REDIS}?prefix={prefix}")
    secret = create(gws[0], name="reader", rpm=2)
    keys_loaded(gws)
    for gw in gws * 3:
        r = httpx.get(gw.openai_base_url + "/models", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
        assert r.status_code == 200, r.text
    assert redis_keys(prefix) == []  # a read of a key without a concurrency limit asks nothing
    assert [call(gw, secret).status_code for gw in gws + gws[:1]] == [200, 200, 429]
