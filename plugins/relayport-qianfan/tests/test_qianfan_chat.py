"""Qianfan v2 through the gateway with the official openai SDK: what a client sees and what Qianfan gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.chat import stream_chat
from relayport.testing.chat import text_of as _text
from relayport.testing.conformance import ProviderConformance
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_qianfan.testing import FakeQianfan, qianfan_error

GATEWAY_KEY = "sk-gateway-qianfan-tests"
VENDOR_KEY = "bce-v3/ALTAK-vendor/SECRET"


class TestQianfanConformance(ProviderConformance):
    provider = "qianfan"
    entry_point = "qianfan"
    model = "ernie-4.5-turbo-128k"

    def make_fake(self) -> FakeQianfan:
        return FakeQianfan()


@pytest.fixture
def fake() -> Iterator[FakeQianfan]:
    server = FakeQianfan(api_key=VENDOR_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(fake: FakeQianfan) -> Iterator[GatewayHandle]:
    models = [{"name": name, "provider": "qianfan", "model": model, "base_url": fake.base_url, "api_key": VENDOR_KEY}
              for name, model in {"ernie": "ernie-x1.1-preview", "ernie-turbo": "ernie-4.5-turbo-128k"}.items()]
    # the same vendor on the translating path (what Anthropic and Gemini clients get)
    models.append({"name": "ernie-translated", "provider": "qianfan", "model": "ernie-x1.1-preview",
                   "base_url": fake.base_url, "api_key": VENDOR_KEY, "options": {"passthrough": False}})
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                            "models": models}, env={})
    yield handle
    handle.stop()


@pytest.fixture
def client(gateway: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


def _stream(gateway: GatewayHandle, body: dict[str, Any]) -> tuple[httpx.Headers, list[dict[str, Any]]]:
    stream = stream_chat(gateway, body, GATEWAY_KEY)
    return stream.headers, stream.chunks


def test_thinking_answer_is_spec_valid_with_reasoning(fake: FakeQianfan, client: openai.OpenAI) -> None:
    fake.queue_text("答案是 42。", reasoning="先算一下。", usage=fake.usage(30, 12, reasoning=8))
    raw = client.chat.completions.with_raw_response.create(
        model="ernie", messages=[{"role": "user", "content": "算"}],
        extra_body={"enable_thinking": True, "thinking_budget": 2048})
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)  # Qianfan sends no logprobs/refusal: filled in
    choice = body["choices"][0]
    assert choice["message"]["reasoning_content"] == "先算一下。" and choice["message"]["content"] == "答案是 42。"
    assert choice["logprobs"] is None and choice["message"]["refusal"] is None
    assert choice["flag"] == 0  # Qianfan's safety flag rides along
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 8
    sent = fake.last.json()
    assert sent["model"] == "ernie-x1.1-preview"
    assert sent["enable_thinking"] is True and sent["thinking_budget"] == 2048


def test_thinking_spellings_become_qianfans_fields(fake: FakeQianfan, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="ernie", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"thinking": {"type": "disabled"}})
    sent = fake.last.json()
    assert sent["enable_thinking"] is False and "thinking" not in sent
    client.chat.completions.create(model="ernie", messages=[{"role": "user", "content": "hi"}],
                                   reasoning_effort="minimal")
    assert fake.last.json()["reasoning_effort"] == "low"  # Qianfan takes low/medium/high only


def test_stream_reasoning_text_and_usage(fake: FakeQianfan, gateway: GatewayHandle) -> None:
    fake.queue_text("the answer", reasoning="step one step two", usage=fake.usage(50, 9, reasoning=4))
    _, chunks = _stream(gateway, {"model": "ernie", "stream": True, "stream_options": {"include_usage": True},
                                  "messages": [{"role": "user", "content": "q"}]})
    assert _text(chunks, "reasoning_content") == "step one step two"
    assert _text(chunks) == "the answer"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 4
    assert all(c["choices"][0]["logprobs"] is None for c in chunks if c["choices"])  # filled in per chunk


def test_sdk_stream_joins(fake: FakeQianfan, client: openai.OpenAI) -> None:
    fake.queue_text("streamed by the sdk")
    stream = client.chat.completions.create(model="ernie-turbo", messages=[{"role": "user", "content": "q"}],
                                            stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed by the sdk"


def test_enable_search_becomes_web_search_and_sources_come_back(fake: FakeQianfan, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="ernie-turbo", messages=[{"role": "user", "content": "今天的新闻"}], extra_body={"enable_search": True})
    sent = fake.last.json()
    assert sent["web_search"] == {"enable": True, "enable_trace": True} and "enable_search" not in sent
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["search_results"][0]["url"] == "https://example.com/news"
    client.chat.completions.create(model="ernie-turbo", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"enable_search": False})
    assert fake.last.json()["web_search"] == {"enable": False}


def test_consecutive_user_messages_are_merged_and_announced(fake: FakeQianfan, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="ernie-turbo", messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
    ])
    assert raw.headers["x-relayport-adjustments"] == "consecutive same-role messages merged"
    assert fake.last.json()["messages"] == [{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": "first\n\nsecond"}]
    assert raw.parse().choices[0].message.content == "echo: first\n\nsecond"


WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
CALL = {"id": "call_qf_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "北京"}'}}


def test_tool_call_round_trip(fake: FakeQianfan, client: openai.OpenAI, gateway: GatewayHandle) -> None:
    fake.queue_text("", tool_calls=[CALL])
    _, chunks = _stream(gateway, {"model": "ernie-turbo", "stream": True, "tools": [WEATHER],
                                  "messages": [{"role": "user", "content": "天气?"}]})
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0]["id"] == "call_qf_1" and calls[0]["function"]["name"] == "weather"
    assert "".join(tc["function"].get("arguments") or "" for tc in calls) == '{"city": "北京"}'
    fake.queue_text("晴")
    answer = client.chat.completions.create(model="ernie-turbo", tools=[WEATHER], messages=[  # type: ignore[list-item]
        {"role": "user", "content": "天气?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},  # type: ignore[list-item]
        {"role": "tool", "tool_call_id": "call_qf_1", "content": "sunny"},
    ])
    assert answer.choices[0].message.content == "晴"
    assert [m["role"] for m in fake.last.json()["messages"]] == ["user", "assistant", "tool"]


def test_prompt_too_long_is_context_length_exceeded(fake: FakeQianfan, client: openai.OpenAI) -> None:
    fake.push(qianfan_error(400, "tokens_too_long", "Prompt tokens too long"))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="ernie-turbo", messages=[{"role": "user", "content": "x"}])
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["code"] == "context_length_exceeded"
    assert "Prompt tokens too long" in envelope["error"]["message"]


def test_rate_limit_retryable_but_spent_quota_not(fake: FakeQianfan, client: openai.OpenAI) -> None:
    fake.push(qianfan_error(429, "rate_limit_exceeded", "rpm_rate_limit_exceeded", "rate_limit_error"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="ernie-turbo", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers.get("x-should-retry") != "false"
    fake.push(qianfan_error(429, "quota_exceeded", "the free quota is used up", "rate_limit_error"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="ernie-turbo", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["x-should-retry"] == "false"
    assert orjson.loads(info.value.response.content)["error"]["type"] == "insufficient_quota"
    assert VENDOR_KEY not in info.value.response.text


def test_translated_path_does_the_same(fake: FakeQianfan, client: openai.OpenAI, gateway: GatewayHandle) -> None:
    fake.queue_text("好", reasoning="想", finish_reason="normal")
    raw = client.chat.completions.with_raw_response.create(
        model="ernie-translated", messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        extra_body={"enable_search": True, "enable_thinking": True})
    sent = fake.last.json()
    assert sent["web_search"] == {"enable": True, "enable_trace": True} and sent["enable_thinking"] is True
    assert [m["content"] for m in sent["messages"]] == ["a\n\nb"]
    assert raw.headers["x-relayport-adjustments"] == "consecutive same-role messages merged"
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["finish_reason"] == "stop"  # Qianfan's older "normal"
    assert body["choices"][0]["message"]["reasoning_content"] == "想"
    fake.queue_text("流", reasoning="思", finish_reason="normal")
    _, chunks = _stream(gateway, {"model": "ernie-translated", "stream": True,
                                  "messages": [{"role": "user", "content": "q"}]})
    assert _text(chunks, "reasoning_content") == "思" and _text(chunks) == "流"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["stop"]
