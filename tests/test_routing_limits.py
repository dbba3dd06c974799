"""Limits, sticky routing, special fallbacks, the call deadline and readiness, end to end.

The gateway is driven with the OpenAI SDK (its own retries off) or httpx against fakes; every
assertion is on what a client sees: status, envelope, headers, and which vendor got the call.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import orjson
import pytest
from aiohttp import web

from relayport.config import ConfigError, parse_config
from relayport.error_kinds import CONTENT_POLICY, CONTEXT_WINDOW, fallback_kind
from relayport.model.errors import GatewayError
from relayport.routing import sticky_key
from relayport.testing.fakes import FakeUpstream, Reply, openai_error
from relayport.testing.waiting import wait_for

MSG = [{"role": "user", "content": "hi"}]
ANSWER = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "slow"}, "finish_reason": "stop"}]}


def _dep(name, url, **kw):
    return {"name": name, "provider": "openai", "base_url": url, "api_key": "sk-x", **kw}


def _healthy(fake, name="m", **kw):
    return {"name": name, "provider": "openai", "base_url": fake.base_url, "api_key": fake.api_key, **kw}


def _post(gw, body, timeout=10.0):
    return httpx.post(gw.openai_base_url + "/chat/completions", json={"messages": MSG, **body}, timeout=timeout)


@pytest.fixture
def slow():
    fake = FakeUpstream()
    fake.start()
    yield fake
    fake.stop()


# ----------------------------------------------------------------------------- max_concurrency


def test_full_deployment_queues_then_answers_429_with_retry_after(relayport_gateway, slow):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1", max_concurrency=1)],
                            "router": {"queue_timeout": 0.3}}, env={})
    slow.push(Reply.json(ANSWER, headers={}), Reply.json(ANSWER))
    slow.replies[0].delay = 1.0
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_post, gw, {"model": "m"})
        wait_for(lambda: len(slow.requests) == 1)  # the first call holds the slot
        started = time.monotonic()
        second = _post(gw, {"model": "m"})
        waited = time.monotonic() - started
    assert first.result().status_code == 200
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    assert second.json()["error"]["code"] == "deployment_busy"
    assert second.json()["error"]["type"] == "rate_limit_error"
    assert 0.25 <= waited < 0.9  # it queued for queue_timeout, not for the first call's end
    assert len(slow.requests) == 1  # the vendor never saw the second call
    # the slot came back: the next call is served
    assert _post(gw, {"model": "m"}).status_code == 200


def test_queued_call_is_served_when_a_slot_frees(relayport_gateway, slow):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1", max_concurrency=1)],
                            "router": {"queue_timeout": 5}}, env={})
    slow.push(Reply.json(ANSWER, headers={}), Reply.json(ANSWER))
    slow.replies[0].delay = 0.5
    with ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(_post, gw, {"model": "m"}) for _ in range(2)]
        assert [c.result().status_code for c in calls] == [200, 200]
    state = httpx.get(gw.url + "/-/deployments").json()["deployments"][0]
    assert state["in_flight"] == 0 and state["calls"] == 2


def test_full_deployment_sends_the_call_to_a_free_one_without_waiting(relayport_gateway, slow, fake_openai):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1", model="busy", max_concurrency=1),
                                       _healthy(fake_openai, model="free")],
                            "router": {"queue_timeout": 5}}, env={})
    slow.push(Reply.json(ANSWER, headers={}))
    slow.replies[0].delay = 1.0
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, gw, {"model": "m"})
        wait_for(lambda: len(slow.requests) == 1)  # the first call holds the slot
        started = time.monotonic()
        second = _post(gw, {"model": "m"})
        assert time.monotonic() - started < 0.5
        assert first.result().headers["x-relayport-deployment"] == "openai/busy"
    assert second.status_code == 200 and second.headers["x-relayport-deployment"] == "openai/free"
    assert second.json()["choices"][0]["message"]["content"] == "echo: hi"


def test_max_connections_caps_upstream_calls_gateway_wide(relayport_gateway, slow, fake_openai):
    gw = relayport_gateway({"models": [_dep("a", slow.url + "/v1"), _healthy(fake_openai, "b")],
                            "router": {"max_connections": 1, "queue_timeout": 0.2}}, env={})
    slow.push(Reply.json(ANSWER, headers={}))
    slow.replies[0].delay = 1.0
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, gw, {"model": "a"})
        # The first call holds the one connection once its vendor has it (it answers 1 s later);
        # a fixed sleep lost that race on a loaded machine and the other call got the slot.
        wait_for(lambda: len(slow.requests) == 1)
        other = _post(gw, {"model": "b"})  # another model, another vendor: the cap is global
        assert first.result().status_code == 200
    assert other.status_code == 503 and other.headers["Retry-After"] == "1"
    assert other.json()["error"]["code"] == "gateway_busy"
    assert len(fake_openai.requests) == 0
    assert _post(gw, {"model": "b"}).status_code == 200


def test_stream_holds_its_slot_until_it_ends(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [_healthy(fake_openai, max_concurrency=1)],
                            "router": {"queue_timeout": 0.1}}, env={})
    fake_openai.queue_text("one two three four five", delay=0.1)
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions",
                      json={"model": "m", "messages": MSG, "stream": True}) as r:
        assert r.status_code == 200
        busy = _post(gw, {"model": "m"})
        body = r.read()
    assert busy.status_code == 429
    assert body.endswith(b"data: [DONE]\n\n")
    assert _post(gw, {"model": "m"}).status_code == 200


# ----------------------------------------------------------------------------- size limits


def test_vendor_answer_over_max_response_bytes_is_refused(relayport_gateway, slow):
    big = {**ANSWER, "pad": "x" * 5000}
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1")],
                            "server": {"max_response_bytes": 4096}}, env={})
    slow.push(Reply.json(big))
    r = _post(gw, {"model": "m"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_response_too_large"
    slow.push(Reply.json(ANSWER))
    assert _post(gw, {"model": "m"}).status_code == 200


def test_chunked_vendor_answer_is_counted_as_it_comes(relayport_gateway):
    async def chunked(request, rec):
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'{"pad":"')
        for _ in range(20):
            await resp.write(b"y" * 1000)
        await resp.write(b'"}')
        return resp

    fake = FakeUpstream(chunked).start()
    try:
        gw = relayport_gateway({"models": [_dep("m", fake.url + "/v1")],
                                "server": {"max_response_bytes": 8000}}, env={})
        r = _post(gw, {"model": "m"})
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_response_too_large"
    finally:
        fake.stop()


def test_request_body_over_max_body_bytes_is_413(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [_healthy(fake_openai)], "server": {"max_body_bytes": 2048}}, env={})
    r = httpx.post(gw.openai_base_url + "/chat/completions",
                   json={"model": "m", "messages": [{"role": "user", "content": "x" * 4000}]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert fake_openai.requests == []


# ----------------------------------------------------------------------------- sticky routing


def test_sticky_key_holds_across_1000_calls_and_keys_spread(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [_healthy(fake_openai, model="a", weight=1),
                                       _healthy(fake_openai, model="b", weight=1)]}, env={})
    with httpx.Client(timeout=10) as client:
        def deployment(**body):
            r = client.post(gw.openai_base_url + "/chat/completions", json={"model": "m", "messages": MSG, **body})
            assert r.status_code == 200
            return r.headers["x-relayport-deployment"]

        seen = Counter(deployment(prompt_cache_key="conversation-7") for _ in range(1000))
        assert len(seen) == 1 and sum(seen.values()) == 1000, seen
        # other keys: each sticks too, and together they use both deployments
        firsts = {f"k{i}": deployment(user=f"k{i}") for i in range(60)}
        assert all(deployment(user=k) == d for k, d in list(firsts.items())[:20])
        share = Counter(firsts.values())
        assert set(share) == {"openai/a", "openai/b"} and min(share.values()) >= 15, share
        # without a key, weighted draws as before
        assert len({deployment() for _ in range(40)}) == 2


def test_sticky_key_moves_while_its_deployment_cools_and_comes_back(relayport_gateway, slow, fake_openai):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1", model="a"), _healthy(fake_openai, model="b")],
                            "router": {"failures": 1, "cooldown": 1.0}}, env={})
    key = next(f"s{i}" for i in range(100) if _sticks_to(gw, slow, f"s{i}") == "openai/a")
    slow.push(Reply.json({"error": {"message": "down"}}, 503))
    r = _post(gw, {"model": "m", "metadata": {"session_id": key}})
    assert r.status_code == 200 and r.headers["x-relayport-deployment"] == "openai/b"
    assert _post(gw, {"model": "m", "metadata": {"session_id": key}}).headers["x-relayport-deployment"] == "openai/b"
    time.sleep(1.1)
    slow.push(Reply.json(ANSWER))
    back = _post(gw, {"model": "m", "metadata": {"session_id": key}})
    assert back.headers["x-relayport-deployment"] == "openai/a"


def _sticks_to(gw, slow, key):
    slow.push(Reply.json(ANSWER))
    r = _post(gw, {"model": "m", "metadata": {"session_id": key}})
    if r.headers["x-relayport-deployment"] != "openai/a":
        slow.replies.clear()
    return r.headers["x-relayport-deployment"]


def test_sticky_key_fields():
    assert sticky_key({"prompt_cache_key": "p", "user": "u"}) == "p"
    assert sticky_key({"user": "u", "metadata": {"session_id": "s"}}) == "u"
    assert sticky_key({"metadata": {"session_id": "s"}}) == "s"
    assert sticky_key({"metadata": {"user_id": "anthropic-user"}}) == "anthropic-user"
    assert sticky_key({"user": 5, "metadata": "x"}) is None


# ----------------------------------------------------------------------------- special fallbacks


CONTEXT_ERRORS = {
    "openai": Reply.json(openai_error(400, "This model's maximum context length is 8192 tokens.",
                                      code="context_length_exceeded", param="messages").body, 400),
    "anthropic": Reply.json({"type": "error", "error": {
        "type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}}, 400),
    "deepseek": Reply.json({"error": {"message": "This model's maximum context length is 65536 tokens. However, "
                                      "you requested 70000 tokens.", "type": "invalid_request_error"}}, 400),
}
POLICY_ERRORS = {
    "openai": Reply.json(openai_error(400, "Your request was rejected by our safety system.",
                                      code="content_policy_violation").body, 400),
    "azure": Reply.json({"error": {"message": "The response was filtered due to the prompt triggering Azure "
                                   "OpenAI's content management policy.", "code": "content_filter",
                                   "status": 400}}, 400),
    "dashscope": Reply.json({"error": {"message": "Input data may contain inappropriate content.",
                                       "type": "data_inspection_failed", "code": "data_inspection_failed"}}, 400),
}


@pytest.mark.parametrize("vendor", list(CONTEXT_ERRORS))
@pytest.mark.parametrize("stream", [False, True])
def test_context_window_error_goes_to_the_context_window_fallback(relayport_gateway, slow, fake_openai,
                                                                   vendor, stream):
    gw = relayport_gateway({
        "models": [_dep("m", slow.url + "/v1"), _healthy(fake_openai, "other"), _healthy(fake_openai, "big")],
        "router": {"fallbacks": {"m": ["other"]}, "context_window_fallbacks": {"m": ["big"]},
                   "content_policy_fallbacks": {"m": ["other"]}},
    }, env={})
    slow.push(CONTEXT_ERRORS[vendor])
    r = _post(gw, {"model": "m", "stream": stream})
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-deployment"] == "openai/big" and r.headers["x-relayport-attempts"] == "2"
    assert b"echo" in r.content
    assert [orjson.loads(q.body)["model"] for q in fake_openai.requests] == ["big"]


@pytest.mark.parametrize("vendor", list(POLICY_ERRORS))
def test_content_policy_error_goes_to_the_content_policy_fallback(relayport_gateway, slow, fake_openai, vendor):
    gw = relayport_gateway({
        "models": [_dep("m", slow.url + "/v1"), _healthy(fake_openai, "big"), _healthy(fake_openai, "lenient")],
        "router": {"context_window_fallbacks": {"m": ["big"]}, "content_policy_fallbacks": {"m": ["lenient"]}},
    }, env={})
    slow.push(POLICY_ERRORS[vendor])
    r = _post(gw, {"model": "m"})
    assert r.status_code == 200 and r.headers["x-relayport-deployment"] == "openai/lenient"


def test_without_a_special_list_the_vendor_error_reaches_the_client(relayport_gateway, slow, fake_openai):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1"), _healthy(fake_openai, "other")],
                            "router": {"fallbacks": {"m": ["other"]}}}, env={})
    slow.push(CONTEXT_ERRORS["openai"])
    r = _post(gw, {"model": "m"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    assert fake_openai.requests == []


def test_special_fallback_names_are_checked_at_startup():
    with pytest.raises(ConfigError, match="router.context_window_fallbacks.m: 'nope' is not a model"):
        from relayport.plugins import load_plugins
        from relayport.routing import Router
        cfg = parse_config({"models": [_dep("m", "http://a.test/v1")],
                            "router": {"context_window_fallbacks": {"m": ["nope"]}}})
        Router(cfg, load_plugins({}), env={})


def test_fallback_kinds():
    assert fallback_kind(GatewayError(400, "x", code="context_length_exceeded")) == CONTEXT_WINDOW
    assert fallback_kind(GatewayError(400, "anthropic: prompt is too long: 5 tokens > 4 maximum")) == CONTEXT_WINDOW
    assert fallback_kind(GatewayError(400, "x", code="1301")) == CONTENT_POLICY
    assert fallback_kind(GatewayError(400, "max_tokens: 10000 > 4096, the maximum allowed")) is None
    assert fallback_kind(GatewayError(401, "bad key")) is None
    assert fallback_kind(GatewayError(503, "context window busy", retryable=True)) is None


# ----------------------------------------------------------------------------- deadline, timing headers


def test_deadline_bounds_a_call_whose_vendor_hangs(relayport_gateway, slow):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1")], "router": {"deadline": 0.5}}, env={})
    slow.push(Reply(hang=True))
    started = time.monotonic()
    r = _post(gw, {"model": "m"})
    assert 0.45 <= time.monotonic() - started < 2.0
    assert r.status_code == 504 and r.json()["error"]["code"] == "deadline_exceeded"


def test_deadline_skips_a_backoff_that_would_pass_it(relayport_gateway, slow):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1")],
                            "router": {"deadline": 1.0, "retry_same": True}}, env={})
    slow.push(Reply.json({"error": {"message": "busy"}}, 503, {"retry-after": "2"}))
    started = time.monotonic()
    r = _post(gw, {"model": "m"})
    assert time.monotonic() - started < 0.8
    assert r.status_code == 503 and len(slow.requests) == 1


def test_deadline_does_not_cut_a_stream_that_started(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [_healthy(fake_openai)], "router": {"deadline": 0.3}}, env={})
    fake_openai.queue_text("a b c d e f g h", delay=0.08)
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions",
                      json={"model": "m", "messages": MSG, "stream": True}) as r:
        body = r.read()
    assert body.endswith(b"data: [DONE]\n\n") and b'" h"' in body


def test_gateway_ms_header_leaves_out_the_vendors_time(relayport_gateway, slow, fake_openai):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1"), _healthy(fake_openai, "s")]}, env={})
    slow.push(Reply.json(ANSWER))
    slow.replies[0].delay = 0.4
    started = time.monotonic()
    r = _post(gw, {"model": "m"})
    total_ms = (time.monotonic() - started) * 1000
    own = float(r.headers["x-relayport-gateway-ms"])
    assert total_ms >= 400 and 0 < own < 150, (own, total_ms)
    # streams (translated or passed through) and errors carry it too
    fake_openai.queue_text("x y", delay=0.05)
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions",
                      json={"model": "s", "messages": MSG, "stream": True}) as s:
        assert float(s.headers["x-relayport-gateway-ms"]) >= 0
    assert "x-relayport-gateway-ms" in _post(gw, {"model": "nope"}).headers


# ----------------------------------------------------------------------------- readiness


def test_readyz_names_models_with_no_deployment_up(relayport_gateway, slow, fake_openai):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1"), _healthy(fake_openai, "ok")],
                            "router": {"failures": 1, "cooldown": 1.0},
                            "auth": {"keys": ["sk-gw-test"]}}, env={})
    ready = httpx.get(gw.url + "/readyz")  # no key needed, like /healthz
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    slow.push(Reply.json({"error": {"message": "down"}}, 503))
    assert httpx.post(gw.openai_base_url + "/chat/completions", headers=gw.headers(),
                      json={"model": "m", "messages": MSG}).status_code == 503
    down = httpx.get(gw.url + "/readyz")
    assert down.status_code == 503 and down.json() == {"status": "unavailable", "models_down": ["m"]}
    time.sleep(1.1)  # cooled down: the half-open probe may go, the model counts as up again
    assert httpx.get(gw.url + "/readyz").status_code == 200


def test_limit_config_errors_are_clear():
    with pytest.raises(ConfigError, match="max_concurrency: must be >= 1"):
        parse_config({"models": [_dep("m", "http://a.test/v1", max_concurrency=0)]})
    with pytest.raises(ConfigError, match="router.deadline: must be positive"):
        parse_config({"router": {"deadline": 0}})


def test_openai_sdk_sees_busy_as_rate_limit(relayport_gateway, slow):
    gw = relayport_gateway({"models": [_dep("m", slow.url + "/v1", max_concurrency=1)],
                            "router": {"queue_timeout": 0}}, env={})
    slow.push(Reply.json(ANSWER, headers={}))
    slow.replies[0].delay = 0.6
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="x", max_retries=0)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.chat.completions.create, model="m", messages=MSG)
        wait_for(lambda: len(slow.requests) == 1)  # the first call holds the slot
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="m", messages=MSG)
        assert first.result().choices[0].message.content == "slow"
    assert info.value.code == "deployment_busy"


def test_anthropic_metadata_user_id_sticks_on_v1_messages(relayport_gateway, fake_openai):
    import anthropic
    gw = relayport_gateway({"models": [_healthy(fake_openai, model="a"), _healthy(fake_openai, model="b")]}, env={})
    client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)

    def served_by(user: str) -> str:
        raw = client.messages.with_raw_response.create(model="m", max_tokens=16, messages=MSG,
                                                       metadata={"user_id": user})
        assert raw.parse().content[0].text == "echo: hi"
        return raw.headers["x-relayport-deployment"]

    for user in ("alice", "bob", "carol"):
        assert len({served_by(user) for _ in range(30)}) == 1
    assert len({served_by(f"user-{i}") for i in range(30)}) == 2


# ----------------------------------------------------------------------------- media routes


def test_embeddings_get_the_routers_retries_breaker_and_limits(relayport_gateway, slow, fake_openai):
    gw = relayport_gateway({"models": [_dep("e", slow.url + "/v1", model="flaky"),
                                       _healthy(fake_openai, "e", model="text-embedding-3-small")],
                            "router": {"failures": 1, "cooldown": 30}}, env={})
    slow.push(Reply.json(openai_error(503, "busy").body, 503))
    for _ in range(3):
        r = httpx.post(gw.url + "/v1/embeddings", json={"model": "e", "input": "hello"})
        assert r.status_code == 200 and r.json()["data"][0]["object"] == "embedding"
    # the first failure opened the breaker: the flaky one was asked once, not three times
    assert len(slow.requests) == 1
    state = {d["deployment"]: d for d in httpx.get(gw.url + "/-/deployments").json()["deployments"]}
    assert state["openai/flaky"]["state"] == "open" and state["openai/text-embedding-3-small"]["calls"] == 3


def test_embeddings_without_a_healthy_deployment_get_the_vendor_error(relayport_gateway, slow):
    gw = relayport_gateway({"models": [_dep("e", slow.url + "/v1")]}, env={})
    slow.push(Reply.json(openai_error(429, "slow down").body, 429, {"retry-after": "7"}))
    r = httpx.post(gw.url + "/v1/embeddings", json={"model": "e", "input": "hello"})
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
