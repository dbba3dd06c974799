"""What a client and an operator see of each call: request ids, the vendor's rate-limit state on a
429, and a log line for every attempt, failures included."""

from __future__ import annotations

import logging

import httpx
import openai
import orjson
import pytest

from relayport.testing.fakes import Reply, openai_error
from relayport.testing.servers import closed_port

RATE_HEADERS = {
    "x-request-id": "req_vendor_429",
    "retry-after": "7",
    "retry-after-ms": "6500",
    "x-should-retry": "true",
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "6.5s",
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "120",
    "x-ratelimit-reset-tokens": "1m2s",
}


@pytest.fixture
def gw(relayport_gateway, fake_openai):
    return relayport_gateway({"models": [
        {"name": "gpt-test", "provider": "openai", "model": "gpt-4o-mini", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key, "timeouts": {"first_byte": 1.0, "idle": 1.0}},
        {"name": "pair", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1", "api_key": "sk-x"},
        {"name": "pair", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key},
    ]}, env={})


def chat(gw, stream=False, model="gpt-test", headers=None):
    return httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, headers=headers or {},
                      json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})


def ok_reply(stream: bool) -> Reply:
    headers = {"x-request-id": "req_vendor_ok"}
    if not stream:
        return Reply.json({"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                           "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                        "message": {"role": "assistant", "content": "hi", "refusal": None}}]},
                          headers=headers)
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
    return Reply.sse([b"data: " + orjson.dumps(chunk) + b"\n\n", b"data: [DONE]\n\n"], headers=headers)


@pytest.mark.parametrize("stream", [False, True])
def test_vendor_request_id_beside_the_gateways_own(gw, fake_openai, stream):
    fake_openai.push(ok_reply(stream))
    r = chat(gw, stream)
    assert r.status_code == 200
    assert r.headers["x-upstream-request-id"] == "req_vendor_ok"
    assert r.headers["x-request-id"] != "req_vendor_ok" and len(r.headers["x-request-id"]) == 16
    # The client's own id comes back, so its logs and the gateway's meet.
    fake_openai.push(ok_reply(stream))
    assert chat(gw, stream, headers={"x-request-id": "client-abc"}).headers["x-request-id"] == "client-abc"


def test_every_answer_names_its_call(gw):
    r = httpx.get(gw.openai_base_url + "/models/nope")
    assert r.status_code == 404 and r.headers["x-request-id"]
    assert httpx.get(gw.url + "/healthz").headers["x-request-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_vendor_429_keeps_its_rate_limit_headers(gw, fake_openai, stream):
    reply = openai_error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded")
    reply.headers.update(RATE_HEADERS)
    fake_openai.push(reply)
    r = chat(gw, stream)
    assert r.status_code == 429
    for name, value in RATE_HEADERS.items():
        if name == "x-request-id":
            assert r.headers["x-upstream-request-id"] == value
        else:
            assert r.headers[name] == value, name  # unchanged: the vendor's own values
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_the_sdk_reads_them(gw, fake_openai):
    reply = openai_error(429, "slow down", "requests", "rate_limit_exceeded")
    reply.headers.update(RATE_HEADERS)
    fake_openai.push(reply)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="sk-any", max_retries=0)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert err.value.response.headers["x-ratelimit-remaining-tokens"] == "120"
    assert err.value.response.headers["retry-after-ms"] == "6500"


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "relayport.calls"]


def test_failures_are_logged(gw, fake_openai, caplog):
    caplog.set_level(logging.INFO, logger="relayport.calls")
    fake_openai.push(openai_error(400, "Unsupported parameter: 'max_tokens'", code="unsupported_parameter"))
    assert chat(gw, headers={"x-request-id": "call-400"}).status_code == 400
    reply = openai_error(429, "slow down", "requests", "rate_limit_exceeded")
    fake_openai.push(reply)
    assert chat(gw).status_code == 429
    lines = _lines(caplog)
    assert any("id=call-400" in line and "status=400 error=unsupported_parameter" in line for line in lines), lines
    assert any("status=429 error=rate_limit_exceeded" in line for line in lines), lines


def test_a_failed_attempt_before_a_fallback_is_logged(gw, caplog):
    caplog.set_level(logging.INFO, logger="relayport.calls")
    assert chat(gw, model="pair").status_code == 200
    lines = [line for line in _lines(caplog) if "model=pair" in line]
    assert len(lines) == 2
    assert "status=502 error=upstream_unreachable" in lines[0] and "status=200" in lines[1]


def test_a_stream_that_breaks_is_logged_as_failed(gw, fake_openai, caplog):
    caplog.set_level(logging.INFO, logger="relayport.calls")
    fake_openai.queue_text("one two three four", drop_after=2)
    r = chat(gw, stream=True)
    assert b'"error"' in r.content
    lines = _lines(caplog)
    assert any("status=502 error=upstream_unreachable" in line for line in lines), lines


def test_no_secret_in_log_lines(gw, fake_openai, caplog):
    caplog.set_level(logging.INFO, logger="relayport.calls")
    fake_openai.push(openai_error(401, "Incorrect API key provided.", code="invalid_api_key"))
    chat(gw)
    assert fake_openai.api_key not in caplog.text
