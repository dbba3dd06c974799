"""Spark through the gateway with the official openai SDK: what a client sees and what Spark gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.chat import finishes as _finishes
from relayport.testing.chat import stream_chat
from relayport.testing.chat import text_of as _text
from relayport.testing.conformance import ProviderConformance
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_spark.testing import FakeSpark, spark_error

GATEWAY_KEY = "sk-gateway-spark-tests"
VENDOR_KEY = "a1b2c3vendorkey:SECRETapisecret"  # APIKey:APISecret
MODELS = {"lite": "lite", "ultra": "4.0Ultra", "x1": "x1"}


class TestSparkConformance(ProviderConformance):
    provider = "spark"
    entry_point = "spark"
    # x1: the model whose streams carry finish reasons (the v1 models send none; their
    # path is covered by the tests below)
    model = "x1"

    def make_fake(self) -> FakeSpark:
        return FakeSpark()


@pytest.fixture
def fake() -> Iterator[FakeSpark]:
    server = FakeSpark(api_key=VENDOR_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(fake: FakeSpark) -> Iterator[GatewayHandle]:
    models = [{"name": name, "provider": "spark", "model": model, "base_url": fake.base_url, "api_key": VENDOR_KEY}
              for name, model in MODELS.items()]
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                            "models": models}, env={})
    yield handle
    handle.stop()


@pytest.fixture
def client(gateway: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


def _stream(gateway: GatewayHandle, body: dict[str, Any]) -> list[dict[str, Any]]:
    stream = stream_chat(gateway, body, GATEWAY_KEY)
    return stream.chunks


def test_key_as_bearer_and_model_ids_on_their_paths(fake: FakeSpark, client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="lite", messages=[{"role": "user", "content": "你好"}])
    assert answer.choices[0].message.content == "echo: 你好"
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["authorization"] == f"Bearer {VENDOR_KEY}"
    assert fake.last.json()["model"] == "lite"
    client.chat.completions.create(model="x1", messages=[{"role": "user", "content": "hi"}])
    assert fake.last.path == "/v2/chat/completions" and fake.last.json()["model"] == "x1"


def test_v1_answer_without_finish_reason_is_spec_valid(fake: FakeSpark, client: openai.OpenAI) -> None:
    fake.queue_text("星火的回答", usage=fake.usage(5, 4))
    raw = client.chat.completions.with_raw_response.create(model="ultra", messages=[{"role": "user", "content": "q"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == "星火的回答"
    assert body["usage"]["total_tokens"] == 9
    assert "code" not in body and "message" not in body  # Spark's envelope is not the client's
    assert body["sid"].startswith("cha") and body["model"] == "4.0Ultra"  # its request id stays


def test_v1_stream_ends_with_stop_and_usage_when_asked(fake: FakeSpark, gateway: GatewayHandle) -> None:
    fake.queue_text("streamed words arrive", usage=fake.usage(6, 3))
    request = {"model": "lite", "stream": True, "stream_options": {"include_usage": True},
               "messages": [{"role": "user", "content": "q"}]}
    chunks = _stream(gateway, request)
    assert _text(chunks) == "streamed words arrive"
    assert _finishes(chunks) == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 9
    fake.queue_text("again")
    chunks = _stream(gateway, {**request, "stream_options": None})
    assert _text(chunks) == "again" and not any(c.get("usage") for c in chunks)


def test_x1_reasoning_non_stream_and_stream(fake: FakeSpark, client: openai.OpenAI, gateway: GatewayHandle) -> None:
    fake.queue_text("答案", reasoning="推理过程", usage=fake.usage(8, 20))
    body = orjson.loads(client.chat.completions.with_raw_response.create(
        model="x1", messages=[{"role": "user", "content": "q"}]).content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["message"]["reasoning_content"] == "推理过程"
    fake.queue_text("the answer", reasoning="step one step two", usage=fake.usage(8, 20))
    chunks = _stream(gateway, {"model": "x1", "stream": True, "stream_options": {"include_usage": True},
                               "messages": [{"role": "user", "content": "q"}]})
    assert _text(chunks, "reasoning_content") == "step one step two" and _text(chunks) == "the answer"
    assert _finishes(chunks) == ["stop"] and chunks[-1]["usage"]["total_tokens"] == 28


def test_thinking_requests_the_model_cannot_follow_are_announced(fake: FakeSpark, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="lite", messages=[{"role": "user", "content": "q"}], extra_body={"enable_thinking": True})
    assert raw.headers["x-relayport-adjustments"] == "thinking ignored: lite does not think; use x1"
    assert "enable_thinking" not in fake.last.json()
    raw = client.chat.completions.with_raw_response.create(
        model="x1", messages=[{"role": "user", "content": "q"}], reasoning_effort="none")
    assert raw.headers["x-relayport-adjustments"] == "thinking cannot be turned off for x1"


def test_limits_are_clamped_and_search_is_the_web_search_tool(fake: FakeSpark, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="lite", messages=[{"role": "user", "content": "q"}], temperature=0, max_completion_tokens=20000,
        extra_body={"enable_search": True})
    sent = fake.last.json()
    assert sent["temperature"] == 0.01 and sent["max_tokens"] == 8192
    assert sent["tools"] == [{"type": "web_search", "web_search": {"enable": True, "search_mode": "normal"}}]
    adjustments = raw.headers["x-relayport-adjustments"]
    assert "temperature clamped to 0.01" in adjustments and "max_tokens clamped to 8192" in adjustments
    client.chat.completions.create(model="x1", messages=[{"role": "user", "content": "q"}], temperature=1.5)
    assert fake.last.json()["temperature"] == 1.5  # x1 takes up to 2


WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
CALL = {"id": "call_spark_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "合肥"}'}}


def test_tool_call_sent_as_one_object_reaches_clients_as_a_list(fake: FakeSpark, client: openai.OpenAI,
                                                                gateway: GatewayHandle) -> None:
    fake.queue_text("", tool_calls=[CALL])
    answer = client.chat.completions.create(model="ultra", tools=[WEATHER],  # type: ignore[list-item]
                                            messages=[{"role": "user", "content": "天气?"}])
    call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.id == "call_spark_1" and call.function.name == "weather"
    assert call.function.arguments == '{"city": "合肥"}'
    fake.queue_text("", tool_calls=[{"type": "function", "function": CALL["function"]}])  # no id either
    chunks = _stream(gateway, {"model": "ultra", "stream": True, "tools": [WEATHER],
                               "messages": [{"role": "user", "content": "天气?"}]})
    calls = [tc for c in chunks if c.get("choices") for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert [(tc["index"], tc["function"]["name"]) for tc in calls] == [(0, "weather")]
    assert calls[0]["id"].startswith("call_") and _finishes(chunks) == ["tool_calls"]


@pytest.mark.parametrize(("code", "status", "openai_code", "retry"), [
    (10013, 400, "content_filter", None),
    (10907, 400, "context_length_exceeded", None),
    (11200, 429, "insufficient_quota", "false"),
    (11202, 429, "11202", None),
    (10012, 503, "10012", None),
])
def test_error_codes_under_http_200_get_a_faithful_status(fake: FakeSpark, client: openai.OpenAI, code: int,
                                                          status: int, openai_code: str, retry: str | None) -> None:
    fake.queue_error(code, f"spark says {code}")
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="lite", messages=[{"role": "user", "content": "q"}])
    assert info.value.status_code == status
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["code"] == openai_code and f"spark says {code}" in envelope["error"]["message"]
    assert info.value.response.headers.get("x-should-retry") == retry
    assert VENDOR_KEY not in info.value.response.text and "SECRET" not in info.value.response.text


def test_error_at_the_start_of_a_stream_is_an_http_error(fake: FakeSpark, client: openai.OpenAI) -> None:
    fake.push(spark_error(10013, "input failed moderation"))
    with pytest.raises(openai.BadRequestError) as info:
        list(client.chat.completions.create(model="lite", messages=[{"role": "user", "content": "q"}], stream=True))
    assert orjson.loads(info.value.response.content)["error"]["code"] == "content_filter"


def test_moderation_after_output_ends_the_stream_with_content_filter(fake: FakeSpark, gateway: GatewayHandle) -> None:
    fake.queue_error(10014, "output failed moderation", after=2)
    chunks = _stream(gateway, {"model": "lite", "stream": True, "messages": [{"role": "user", "content": "q"}]})
    assert _text(chunks) == "partial answer" and _finishes(chunks) == ["content_filter"]


def test_other_errors_inside_a_stream_reach_the_sdk_as_errors(fake: FakeSpark, client: openai.OpenAI) -> None:
    fake.queue_error(10012, "engine internal error", after=2)
    stream = client.chat.completions.create(model="lite", messages=[{"role": "user", "content": "q"}], stream=True)
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert "engine internal error" in str(info.value)


@pytest.mark.parametrize("suffix", ["/v1", "/v2/"])
def test_base_url_from_sparks_sdk_examples_serves_both_paths(fake: FakeSpark, suffix: str) -> None:
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]}, "models": [
        {"name": name, "provider": "spark", "model": name, "base_url": fake.base_url + suffix, "api_key": VENDOR_KEY}
        for name in ("generalv3.5", "x1")]}, env={})
    try:
        client = openai.OpenAI(base_url=handle.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
        client.chat.completions.create(model="generalv3.5", messages=[{"role": "user", "content": "q"}])
        assert fake.last.path == "/v1/chat/completions"
        client.chat.completions.create(model="x1", messages=[{"role": "user", "content": "q"}])
        assert fake.last.path == "/v2/chat/completions"
    finally:
        handle.stop()
