"""Prometheus `/metrics`: what a scrape shows after real calls, who may read it, and what
happens without prometheus-client installed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from relayport import metrics
from relayport.accounts.money import to_units
from relayport.calls import CallRecord
from relayport.config import MetricsConfig, parse_config
from relayport.model import MediaKind, MediaRequest, TaskRecord, TaskStatus
from relayport.model.usage import Usage
from relayport.routing import Router
from relayport.server.keys import GATEWAY, TASKS
from relayport.testing.servers import closed_port

PROMPT = [{"role": "user", "content": "hello there"}]


def scrape(gw: Any, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(gw.url + "/metrics", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def chat(gw: Any, model: str, stream: bool = False, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.post(gw.openai_base_url + "/chat/completions", headers=headers, timeout=10,
                   json={"model": model, "stream": stream, "messages": PROMPT})
    r.read()
    return r


def task(task_id: str, status: TaskStatus, provider: str = "kling") -> TaskRecord:
    now = time.time()
    return TaskRecord(id=task_id, provider=provider, model="v", vendor_task_id="vt-" + task_id, status=status,
                      request=MediaRequest(MediaKind.VIDEO, "v", prompt="a cat"), created_at=now,
                      updated_at=now, deadline=now + 7200, next_poll_at=now + 3600)


def test_a_scrape_counts_requests_tokens_latency_errors_and_tasks(relayport_gateway, fake_openai) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    gw = relayport_gateway({"models": [
        {"name": "gpt", "provider": "openai", "model": "gpt-4o-mini", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key},
        {"name": "down", "provider": "openai", "base_url": dead, "api_key": "sk-x"},
    ]}, env={})
    fake_openai.queue_text("hi", usage=fake_openai.usage(30, 9, cached=10, reasoning=4))
    assert chat(gw, "gpt").status_code == 200
    assert chat(gw, "gpt", stream=True).status_code == 200  # the client did not ask for usage
    assert chat(gw, "down").status_code == 502
    store = gw.server.app[TASKS]
    for t in (task("a", TaskStatus.QUEUED), task("b", TaskStatus.SUCCEEDED), task("c", TaskStatus.SUCCEEDED)):
        asyncio.run_coroutine_threadsafe(store.put(t), gw.server.loop).result(10)

    s = scrape(gw)
    ok = {"model": "gpt", "provider": "openai"}
    assert value(s, "relayport_requests_total", status="200", **ok) == 2
    assert value(s, "relayport_requests_total", model="down", provider="openai", status="502") == 1
    assert value(s, "relayport_upstream_errors_total", model="down", provider="openai", status="502",
                 code="upstream_unreachable") == 1
    # Tokens of both calls: the queued turn's usage, then the fake's default 12/7 (metered stream).
    assert value(s, "relayport_tokens_total", type="input", **ok) == 30 + 12
    assert value(s, "relayport_tokens_total", type="output", **ok) == 9 + 7
    assert value(s, "relayport_tokens_total", type="cached", **ok) == 10
    assert value(s, "relayport_tokens_total", type="reasoning", **ok) == 4
    assert value(s, "relayport_request_duration_seconds_count", **ok) == 2
    assert value(s, "relayport_time_to_first_token_seconds_count", **ok) == 1
    assert value(s, "relayport_request_duration_seconds_bucket", le="+Inf", **ok) == 2
    assert value(s, "relayport_in_flight", deployment="openai/gpt-4o-mini", **ok) == 0
    assert value(s, "relayport_tasks", provider="kling", state="queued") == 1
    assert value(s, "relayport_tasks", provider="kling", state="succeeded") == 2
    # No key anywhere: the vendor key is not a label or a value.
    text = httpx.get(gw.url + "/metrics").text
    assert fake_openai.api_key not in text and "sk-x" not in text


def test_cost_is_counted_when_the_record_carries_one() -> None:
    config = MetricsConfig()
    m = metrics.Metrics(config, Router(parse_config({}), _no_plugins(), {}))
    for cost in ("0.25", "0.5", None):
        m.observe(CallRecord("r", None, "gpt", "openai", "openai/gpt", "gpt-4o", 200, None,
                             Usage(input_tokens=3, output_tokens=1), 0.1,
                             cost_units=None if cost is None else to_units(cost)))
    body, _ = asyncio.run(m.render(None))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    assert value(samples, "relayport_cost_total", model="gpt", provider="openai") == 0.75
    assert value(samples, "relayport_requests_total", model="gpt", provider="openai", status="200") == 3


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    m = metrics.Metrics(MetricsConfig(latency_buckets=[0.05, 0.5, 5.0]), Router(parse_config({}), _no_plugins(), {}))
    for status, latency in ((200, 0.05), (200, 0.3), (200, 500.0), (201, 0.01), (502, 0.2)):
        m.observe(CallRecord("r", None, "gpt", "openai", "openai/gpt", "gpt-4o", status,
                             "boom" if status == 502 else None, None, latency))
    body, _ = asyncio.run(m.render(None))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    pair = {"model": "gpt", "provider": "openai"}
    # Successful attempts of every status add up; the failed one is an error, not a latency.
    assert [value(samples, "relayport_request_duration_seconds_bucket", le=le, **pair)
            for le in ("0.05", "0.5", "5.0", "+Inf")] == [2, 3, 3, 4]
    assert value(samples, "relayport_request_duration_seconds_sum", **pair) == pytest.approx(500.36)
    assert value(samples, "relayport_upstream_errors_total", status="502", code="boom", **pair) == 1
    assert value(samples, "relayport_requests_total", status="201", **pair) == 1


def _no_plugins() -> Any:
    from relayport.plugins import load_plugins

    return load_plugins({"RELAYPORT_LOAD_PLUGINS": ""})


def test_metrics_are_public_by_default_while_calls_need_a_key(relayport_gateway, fake_openai) -> None:
    gw = relayport_gateway({"auth": {"keys": ["gk-secret-1"]}, "models": [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}]},
        env={})
    assert chat(gw, "gpt").status_code == 401
    assert httpx.get(gw.url + "/metrics").status_code == 200


def test_require_admin_needs_a_key_to_scrape(relayport_gateway, fake_openai) -> None:
    gw = relayport_gateway({"auth": {"keys": ["gk-secret-1"]}, "metrics": {"require_admin": True}, "models": [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}]},
        env={})
    assert chat(gw, "gpt", key="gk-secret-1").status_code == 200
    r = httpx.get(gw.url + "/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    r = httpx.get(gw.url + "/metrics", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    s = scrape(gw, Authorization="Bearer gk-secret-1")
    assert value(s, "relayport_requests_total", model="gpt", provider="openai", status="200") == 1


def test_without_prometheus_client_metrics_say_how_to_install_and_calls_are_not_observed(
        relayport_gateway, fake_openai, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "CollectorRegistry", None)
    gw = relayport_gateway({"models": [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}]},
        env={})
    r = httpx.get(gw.url + "/metrics")
    assert r.status_code == 501
    err = r.json()["error"]
    assert err["code"] == "metrics_unavailable" and "pip install 'relayport[metrics]'" in err["message"]
    gateway = gw.server.app[GATEWAY]
    assert gateway.observers == [] and not gateway.metering  # the hot path is as it was


def test_metrics_turned_off(relayport_gateway) -> None:
    gw = relayport_gateway({"metrics": {"enabled": False}}, env={})
    r = httpx.get(gw.url + "/metrics")
    assert r.status_code == 404 and r.json()["error"]["code"] == "metrics_disabled"
    assert gw.server.app[GATEWAY].observers == []


@pytest.mark.parametrize("section, message", [
    ({"metrics": {"latency_buckets": [1.0, 0.5]}}, "metrics.latency_buckets"),
    ({"server": {"log_format": "xml"}}, "server.log_format"),
    ({"server": {"meter_streams": "sometimes"}}, "server.meter_streams"),
    ({"server": {"usage_fields": "one-api"}}, "server.usage_fields"),
    ({"metrics": {"require_admin": "yes"}}, "require_admin"),
])
def test_bad_observability_config_is_an_error(section: dict, message: str) -> None:
    from relayport.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_config(section)
