"""JSON log lines and OpenTelemetry spans: what a log shipper and a tracing backend receive."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from relayport import tracing
from relayport.logs import DeferredHandler, setup_logging
from relayport.server.keys import GATEWAY
from relayport.testing.servers import closed_port

GATEWAY_KEY = "gk-never-in-logs-4711"


@pytest.fixture
def json_log() -> Iterator[tuple[DeferredHandler, io.StringIO]]:
    """The root logger writing JSON into a buffer, as `relayport serve` sets it up."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    handler = setup_logging("info", "json", target=out)
    yield handler, out
    root.handlers[:], root.level = saved[0], saved[1]


def lines(handler: DeferredHandler, out: io.StringIO) -> list[dict[str, Any]]:
    handler.drain()
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_json_call_lines_have_fields_and_no_secrets(relayport_gateway, fake_openai, json_log) -> None:
    handler, out = json_log
    gw = relayport_gateway({"auth": {"keys": [GATEWAY_KEY]}, "models": [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key},
        {"name": "down", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1",
         "api_key": "sk-dead-vendor-key"}]}, env={})
    assert gw.server.app[GATEWAY].call_log is not None  # the fast writer is the one in use
    for model in ("gpt", "down"):
        httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {GATEWAY_KEY}",
                   "x-request-id": f"req-{model}"}, json={"model": model, "messages": [
                       {"role": "user", "content": "hi"}]}, timeout=10)
    records = lines(handler, out)  # every line is one JSON object
    calls = {r["request_id"]: r for r in records if r["logger"] == "relayport.calls" and r["level"] == "INFO"}
    ok = calls["req-gpt"]
    assert (ok["model"], ok["provider"], ok["status"], ok["in"], ok["out"]) == ("gpt", "openai", 200, 12, 7)
    assert ok["cached"] == 0 and isinstance(ok["ms"], float) and ok["time"].endswith("Z")
    failed = calls["req-down"]
    assert failed["status"] == 502 and failed["error"] == "upstream_unreachable" and failed["in"] is None
    text = out.getvalue()
    for secret in (GATEWAY_KEY, fake_openai.api_key, "sk-dead-vendor-key"):
        assert secret not in text


def test_json_records_of_other_loggers_carry_exceptions(json_log) -> None:
    handler, out = json_log
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("relayport.server").exception("it failed")
    [rec] = lines(handler, out)
    assert rec["level"] == "ERROR" and rec["message"] == "it failed" and "ValueError: boom" in rec["exception"]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", lambda: provider)
    return exporter


def test_each_attempt_is_a_genai_client_span(relayport_gateway, fake_openai, spans) -> None:
    gw = relayport_gateway({"metrics": {"otel": True}, "models": [
        {"name": "gpt", "provider": "openai", "model": "gpt-4o-mini", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key},
        {"name": "down", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1",
         "api_key": "sk-x"}]}, env={})
    fake_openai.queue_text("hi", usage=fake_openai.usage(30, 9, cached=10, reasoning=4))
    for model, stream in (("gpt", False), ("gpt", True), ("down", False)):
        httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}).read()
    plain, streamed, failed = spans.get_finished_spans()
    assert plain.name == "chat gpt-4o-mini" and plain.kind is SpanKind.CLIENT
    a = plain.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.request.model"] == "gpt-4o-mini"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (30, 9)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 10 and a["relayport.usage.reasoning_tokens"] == 4
    assert a["relayport.model"] == "gpt" and a["relayport.stream"] is False
    assert plain.end_time > plain.start_time and plain.status.status_code is StatusCode.UNSET
    s = streamed.attributes
    assert s["relayport.stream"] is True and s["gen_ai.usage.output_tokens"] == 7  # metered stream
    assert 0 < s["relayport.time_to_first_byte"] <= (streamed.end_time - streamed.start_time) / 1e9 + 1e-3
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "upstream_unreachable"
    assert "sk-x" not in str(dict(failed.attributes)) and fake_openai.api_key not in str(dict(a))


def test_spans_are_off_by_default(relayport_gateway, fake_openai, spans) -> None:
    gw = relayport_gateway({"metrics": {"enabled": False}, "models": [
        {"name": "gpt", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}]},
        env={})
    httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
               json={"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})
    assert spans.get_finished_spans() == ()
    assert gw.server.app[GATEWAY].observers == []
