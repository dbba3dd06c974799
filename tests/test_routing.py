"""Routing and reliability: weights, tiers, fallbacks, retries and the circuit breaker.

End-to-end cases drive the gateway with the OpenAI SDK (its own retries off, so every retry
seen is the gateway's) against fakes that fail the way vendors do.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import httpx
import openai
import orjson
import pytest

from relayport.config import ConfigError, parse_config
from relayport.model.errors import GatewayError
from relayport.plugins import load_plugins
from relayport.retries import next_attempt
from relayport.routing import Router
from relayport.testing.fakes import FakeUpstream, Reply, openai_error
from relayport.testing.servers import closed_port

MSG = [{"role": "user", "content": "hi"}]


def _router(models, router=None, seed=2):
    cfg = parse_config({"models": models, **({"router": router} if router else {})}, "<test>")
    return Router(cfg, load_plugins({}), env={}, rng=random.Random(seed))


def _dep(name, url, **kw):
    return {"name": name, "provider": "openai", "base_url": url, "api_key": "sk-x", **kw}


# ----------------------------------------------------------------------------- the picker


def test_weighted_distribution_within_5_percent_over_10000_picks():
    r = _router([_dep("m", "http://a.test/v1", model="a", weight=1),
                 _dep("m", "http://b.test/v1", model="b", weight=2),
                 _dep("m", "http://c.test/v1", model="c", weight=7)])
    picks = Counter(r.resolve("m")[0].model for _ in range(10_000))
    for model, weight in (("a", 1), ("b", 2), ("c", 7)):
        expected = 10_000 * weight / 10
        # For the 10% share, 5% is ~1.7 sigma: the seed is fixed so the test is deterministic.
        assert abs(picks[model] - expected) <= 0.05 * expected, (model, picks)


def test_unweighted_tier_keeps_config_order_and_tiers_come_in_priority_order():
    r = _router([_dep("m", "http://b.test/v1", model="backup", priority=1),
                 _dep("m", "http://a.test/v1", model="first"),
                 _dep("m", "http://c.test/v1", model="second"),
                 _dep("other", "http://o.test/v1", model="o")],
                router={"fallbacks": {"m": ["other"]}})
    for _ in range(20):
        route = r.resolve("m")
        assert [d.model for d in route] == ["first", "second", "backup", "o"]
        assert route.groups == [0, 0, 0, 1] and route.tiers == [0, 0, 1, 0]


def test_least_busy_and_latency_strategies():
    models = [_dep("m", "http://a.test/v1", model="a"), _dep("m", "http://b.test/v1", model="b")]
    r = _router(models, router={"strategy": "least-busy"})
    a = r.resolve("m")[0]
    r.begin(a)
    assert r.resolve("m")[0].model == "b"  # a has a call in flight
    r = _router(models, router={"strategy": "latency"})
    a, b = r.resolve("m")
    r.succeeded(r.health(a), 0.5)
    r.succeeded(r.health(b), 0.1)
    assert r.resolve("m")[0].model == "b"


def test_router_config_errors_are_clear():
    with pytest.raises(ConfigError, match="router.strategy"):
        _router([_dep("m", "http://a.test/v1")], router={"strategy": "random"})
    with pytest.raises(ConfigError, match="not a model this gateway serves"):
        _router([_dep("m", "http://a.test/v1")], router={"fallbacks": {"m": ["nope"]}})
    with pytest.raises(ConfigError, match="weight: must be positive"):
        _router([_dep("m", "http://a.test/v1", weight=0)])


# ----------------------------------------------------------------------------- through the gateway


@pytest.fixture
def faulty():
    fake = FakeUpstream()
    fake.start()
    yield fake
    fake.stop()


def _client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0, timeout=10)


def _call(gw, model="m", **kw):
    raw = _client(gw).chat.completions.with_raw_response.create(model=model, messages=MSG, **kw)
    return raw.headers, raw.parse()


FAULTS = {
    "500": Reply.json(openai_error(500, "boom").body, 500),
    "502": Reply.json({"error": {"message": "bad gateway"}}, 502),
    "503": Reply.json({"error": {"message": "unavailable"}}, 503),
    "529": Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}}, 529),
    "429 retry-after": Reply.json(openai_error(429, "slow down").body, 429, {"Retry-After": "1"}),
    "429 retry-after-ms": Reply.json(openai_error(429, "slow down").body, 429, {"retry-after-ms": "200"}),
    "reset": Reply(reset=True),
    "stall": Reply(hang=True),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("stream", [False, True])
def test_each_fault_falls_back_to_the_healthy_model(relayport_gateway, faulty, fake_openai, fault, stream):
    gw = relayport_gateway({
        "models": [_dep("m", faulty.url + "/v1", timeouts={"first_byte": 0.5}),
                   {"name": "healthy", "provider": "openai", "base_url": fake_openai.base_url,
                    "api_key": fake_openai.api_key}],
        "router": {"fallbacks": {"m": ["healthy"]}},
    }, env={})
    faulty.push(FAULTS[fault])
    client = _client(gw)
    if stream:
        with client.chat.completions.with_streaming_response.create(model="m", messages=MSG, stream=True) as r:
            headers = r.headers
            text = "".join(c.choices[0].delta.content or "" for c in r.parse() if c.choices)
    else:
        headers, answer = _call(gw)
        text = answer.choices[0].message.content
    assert text == "echo: hi"
    assert headers["x-relayport-attempts"] == "2"
    assert headers["x-relayport-deployment"] == "openai/healthy"
    assert len(faulty.requests) == 1


def test_connection_refused_goes_to_the_other_deployment_of_the_tier(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [
        _dep("m", f"http://127.0.0.1:{closed_port()}/v1", model="gpt-down"),
        {"name": "m", "provider": "openai", "model": "gpt-up", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key}]}, env={})
    headers, answer = _call(gw)
    assert answer.choices[0].message.content == "echo: hi"
    assert (headers["x-relayport-attempts"], headers["x-relayport-deployment"]) == ("2", "openai/gpt-up")


def test_retry_same_deployment_honours_retry_after_ms(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [{"name": "m", "provider": "openai", "base_url": fake_openai.base_url,
                                        "api_key": fake_openai.api_key}],
                            "router": {"retry_same": True}}, env={})
    fake_openai.push(Reply.json(openai_error(503, "busy").body, 503, {"retry-after-ms": "300"}))
    started = time.monotonic()
    headers, answer = _call(gw)
    assert time.monotonic() - started >= 0.3
    assert answer.choices[0].message.content == "echo: hi"
    assert headers["x-relayport-attempts"] == "2"
    assert len(fake_openai.requests) == 2


def test_max_attempts_bounds_the_retries(relayport_gateway, faulty):
    gw = relayport_gateway({"models": [_dep("m", faulty.url + "/v1")],
                            "router": {"retry_same": True, "max_attempts": 3, "backoff": 0.01}}, env={})
    faulty.push(*[Reply.json({"error": {"message": "down"}}, 503)] * 5)
    with pytest.raises(openai.InternalServerError) as info:
        _call(gw)
    assert info.value.status_code == 503
    assert info.value.response.headers["x-relayport-attempts"] == "3"
    assert len(faulty.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_non_retryable_errors_are_not_retried(relayport_gateway, faulty, fake_openai, status):
    gw = relayport_gateway({"models": [_dep("m", faulty.url + "/v1"),
                                       {"name": "m", "provider": "openai", "base_url": fake_openai.base_url,
                                        "api_key": fake_openai.api_key}],
                            "router": {"retry_same": True}}, env={})
    faulty.push(Reply.json(openai_error(status, "final").body, status))
    with pytest.raises(openai.APIStatusError) as info:
        _call(gw)
    assert info.value.status_code == status
    assert info.value.response.headers["x-relayport-attempts"] == "1"
    assert len(fake_openai.requests) == 0


def test_no_retry_after_the_first_byte(relayport_gateway, fake_openai, faulty):
    gw = relayport_gateway({"models": [{"name": "m", "provider": "openai", "base_url": fake_openai.base_url,
                                        "api_key": fake_openai.api_key},
                                       _dep("m", faulty.url + "/v1")],
                            "router": {"retry_same": True}}, env={})
    fake_openai.queue_text("a long answer cut short", drop_after=2)
    stream = _client(gw).chat.completions.create(model="m", messages=MSG, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    assert len(fake_openai.requests) == 1 and len(faulty.requests) == 0


def test_breaker_opens_after_failures_then_probes_half_open(relayport_gateway, faulty, fake_openai):
    gw = relayport_gateway({"models": [_dep("m", faulty.url + "/v1", model="flaky"),
                                       {"name": "m", "provider": "openai", "model": "steady",
                                        "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}],
                            "router": {"failures": 2, "cooldown": 3.0}}, env={})
    faulty.push(*[Reply.json({"error": {"message": "down"}}, 500)] * 3)
    for _ in range(2):
        assert _call(gw)[0]["x-relayport-attempts"] == "2"
    # (a cooldown long enough that a loaded CI machine gets the next calls in before it ends)
    state = {d["deployment"]: d for d in httpx.get(gw.url + "/-/deployments").json()["deployments"]}
    assert state["openai/flaky"]["state"] == "open", state
    assert state["openai/flaky"]["consecutive_failures"] == 2
    assert state["openai/steady"]["state"] == "closed"
    assert "sk-" not in httpx.get(gw.url + "/-/deployments").text
    # While open: straight to the healthy one, the flaky one is not called.
    assert _call(gw)[0]["x-relayport-attempts"] == "1"
    assert len(faulty.requests) == 2
    time.sleep(3.1)
    # Half-open: one probe, which fails, so the breaker opens again.
    assert _call(gw)[0]["x-relayport-attempts"] == "2"
    assert len(faulty.requests) == 3
    assert _call(gw)[0]["x-relayport-attempts"] == "1"
    time.sleep(3.1)
    # Next probe succeeds (the fake answers again): closed.
    faulty.push(Reply.json({"id": "x", "object": "chat.completion", "created": 1, "model": "flaky",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": "back"},
                                         "finish_reason": "stop"}]}))
    headers, answer = _call(gw)
    assert answer.choices[0].message.content == "back" and headers["x-relayport-deployment"] == "openai/flaky"
    state = {d["deployment"]: d for d in httpx.get(gw.url + "/-/deployments").json()["deployments"]}
    assert state["openai/flaky"]["state"] == "closed"


def test_401_opens_the_breaker_at_once(relayport_gateway, faulty, fake_openai):
    gw = relayport_gateway({"models": [_dep("m", faulty.url + "/v1", model="revoked"),
                                       {"name": "m", "provider": "openai", "model": "ok",
                                        "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}]},
                           env={})
    faulty.push(Reply.json(openai_error(401, "bad key").body, 401))
    with pytest.raises(openai.AuthenticationError):
        _call(gw)
    headers, _ = _call(gw)
    assert headers["x-relayport-deployment"] == "openai/ok" and headers["x-relayport-attempts"] == "1"


def test_headers_on_passthrough_stream_and_translated_calls(relayport_gateway, fake_openai, fake_echo):
    from tests.fake_echo import ECHO_KEY

    gw = relayport_gateway({"models": [
        {"name": "e", "provider": "echo", "base_url": fake_echo.base_url, "api_key": ECHO_KEY},
        {"name": "m", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}]},
        env={})
    for model, label in (("e", "echo/e"), ("m", "openai/m")):
        headers, _ = _call(gw, model)
        assert headers["x-relayport-attempts"] == "1" and headers["x-relayport-deployment"] == label
        with _client(gw).chat.completions.with_streaming_response.create(
                model=model, messages=MSG, stream=True) as r:
            assert r.headers["x-relayport-attempts"] == "1" and r.headers["x-relayport-deployment"] == label


# ----------------------------------------------------------------------------- broken passthrough streams

_GOOD = (b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
         b'[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n')


@pytest.mark.parametrize("broken", [
    # garbled mid-stream: an event whose JSON was cut, then the stream goes on
    [_GOOD, b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"delta":{"content":"lo\n\n',
     b"data: [DONE]\n\n"],
    # the vendor ends the response in the middle of an event
    [_GOOD, b'data: {"id":"c1","object":"chat.completion.chunk","choi'],
], ids=["garbled-event", "truncated-at-end"])
def test_malformed_passthrough_stream_ends_with_a_clean_error_event(relayport_gateway, faulty, broken):
    gw = relayport_gateway({"models": [_dep("m", faulty.url + "/v1")]}, env={})
    faulty.push(Reply.sse(broken, delay=0.05))
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions",
                      json={"model": "m", "messages": MSG, "stream": True}) as r:
        raw = r.read()
    events = raw.split(b"\n\n")
    # what came whole, then one error event; none of the broken bytes
    assert events[0] + b"\n\n" == _GOOD and events[2:] == [b""], raw
    assert orjson.loads(events[1].removeprefix(b"data: "))["error"]["code"] == "upstream_malformed_stream"
    faulty.push(Reply.sse(broken, delay=0.05))
    stream = _client(gw).chat.completions.create(model="m", messages=MSG, stream=True)
    got = []
    with pytest.raises(openai.APIError, match="broke off mid-event"):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert got == ["Hel"]


def test_lower_tier_serves_before_a_cooling_deployment_of_the_tier_above():
    r = _router([_dep("m", "http://a.test/v1", model="a"), _dep("m", "http://b.test/v1", model="b"),
                 _dep("m", "http://c.test/v1", model="backup", priority=1)], router={"failures": 1})
    a, b, backup = r.resolve("m")
    r.failed(r.health(b), GatewayError(503, "down", retryable=True))  # b's breaker opens
    route = r.resolve("m")
    assert [d.model for d in route] == ["a", "backup", "b"]
    route.attempts = route.used = 1
    route.failed.add(id(a))
    step = next_attempt(route, 0, GatewayError(503, "down", retryable=True), r.health(a), r.config, 0.0)
    assert step == (1, 0.0)  # the lower tier, not b that cools down


def test_no_call_lost_under_a_fault_mix_with_one_healthy_fallback(relayport_gateway, faulty, fake_openai):
    # The breaker is kept closed so that every call meets a fault first.
    gw = relayport_gateway({
        "models": [_dep("m", faulty.url + "/v1"),
                   {"name": "healthy", "provider": "openai", "base_url": fake_openai.base_url,
                    "api_key": fake_openai.api_key}],
        "router": {"fallbacks": {"m": ["healthy"]}, "failures": 1_000_000},
    }, env={})
    mix = [FAULTS[k] for k in ("500", "502", "503", "529", "reset")]
    mix.append(Reply.json(openai_error(429, "slow down").body, 429, {"retry-after-ms": "1"}))
    n = 300
    faulty.push(*(mix[i % len(mix)] for i in range(n)))
    client = _client(gw)
    lost = 0
    for _ in range(n):
        try:
            if client.chat.completions.create(model="m", messages=MSG).choices[0].message.content != "echo: hi":
                lost += 1
        except openai.APIError:
            lost += 1
    assert lost == 0
    assert len(faulty.requests) == n  # every call met its fault first
