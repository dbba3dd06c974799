"""DashScope's error envelopes and business codes as OpenAI clients see them, and what is retried."""

from __future__ import annotations

import openai
import orjson
import pytest
from ds_fixtures import client, dashscope_fixture, ds_gateway_fixture  # noqa: F401  (fixtures)

from relayport.testing import openapi


def _two_deployments(relayport_gateway, dashscope):
    """`qwen-plus` served twice by the same fake: a retryable failure falls back to the second."""
    entry = {"name": "qwen-plus", "provider": "dashscope", "model": "qwen-plus",
             "base_url": dashscope.base_url, "api_key": dashscope.api_key}
    # The kit's fixture makes one attempt unless asked: this test is about the fallback.
    return relayport_gateway({"models": [entry, dict(entry)], "router": {"max_attempts": 2}}, env={})


def _error(exc: openai.APIStatusError) -> dict:
    envelope = orjson.loads(exc.response.content)
    openapi.validate_error(envelope)
    return envelope["error"]


def test_arrearage_is_a_billing_error_and_not_retried(relayport_gateway, dashscope):
    gw = _two_deployments(relayport_gateway, dashscope)
    dashscope.push(dashscope.business_error("Arrearage"), dashscope.business_error("Arrearage"))
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "hi"}])
    err = _error(info.value)
    assert err["type"] == "insufficient_quota" and err["code"] == "Arrearage"
    assert "good standing" in err["message"]
    assert len(dashscope.requests) == 1  # a second key of the same account would fail the same way


def test_exhausted_quota_sent_as_429_is_not_retried(relayport_gateway, dashscope):
    gw = _two_deployments(relayport_gateway, dashscope)
    dashscope.push(dashscope.business_error("insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as info:
        client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "hi"}])
    assert _error(info.value)["type"] == "insufficient_quota"
    assert len(dashscope.requests) == 1


def test_rate_limit_falls_back_to_the_next_deployment(relayport_gateway, dashscope):
    gw = _two_deployments(relayport_gateway, dashscope)
    dashscope.push(dashscope.business_error("limit_requests"))
    out = client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"
    assert len(dashscope.requests) == 2


@pytest.mark.parametrize("native", [False, True])
def test_content_inspection_is_a_clear_400(dashscope, ds_gateway, native):
    gw = ds_gateway("qwen-plus")
    dashscope.push(dashscope.business_error("data_inspection_failed", native=native))
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "x"}])
    err = _error(info.value)
    assert err["code"] == "content_filter" and err["type"] == "invalid_request_error"
    assert "inappropriate content" in err["message"]


def test_bad_vendor_key_is_401(dashscope, relayport_gateway):
    gw = relayport_gateway({"models": [{"name": "qwen-plus", "provider": "dashscope", "model": "qwen-plus",
                                        "base_url": dashscope.base_url, "api_key": "sk-wrong"}]}, env={})
    with pytest.raises(openai.AuthenticationError) as info:
        client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "x"}])
    assert "sk-wrong" not in info.value.response.text
    assert _error(info.value)["code"] == "invalid_api_key"


def test_inspection_failure_inside_a_200_stream_is_an_error_not_content(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("some partial words", error="data_inspection_failed")
    got = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in client(gw).chat.completions.create(
                model="qwen-plus", messages=[{"role": "user", "content": "x"}], stream=True):
            if chunk.choices:
                got += chunk.choices[0].delta.content or ""
    assert "inappropriate content" in str(info.value)
    assert got == "some partial words"


def test_inspection_failure_while_joining_a_stream_only_model(dashscope, ds_gateway):
    gw = ds_gateway("qwen-omni-turbo")
    dashscope.queue_text("partial", error="data_inspection_failed")
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).chat.completions.create(model="qwen-omni-turbo", messages=[{"role": "user", "content": "x"}])
    assert _error(info.value)["code"] == "content_filter"
