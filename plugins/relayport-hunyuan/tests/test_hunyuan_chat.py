"""Hunyuan through the gateway with the official openai SDK: what a client sees and what Hunyuan gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.chat import finishes as _finishes
from relayport.testing.chat import stream_chat
from relayport.testing.chat import text_of as _text
from relayport.testing.conformance import ProviderConformance
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_hunyuan.testing import ALTERNATE, FakeHunyuan, hunyuan_error

GATEWAY_KEY = "sk-gateway-hunyuan-tests"
VENDOR_KEY = "sk-hunyuan-vendor-SECRET"
MODELS = {"t1": "hunyuan-t1-latest", "turbos": "hunyuan-turbos-latest", "a13b": "hunyuan-a13b"}


class TestHunyuanConformance(ProviderConformance):
    provider = "hunyuan"
    entry_point = "hunyuan"
    model = "hunyuan-turbos-latest"

    def make_fake(self) -> FakeHunyuan:
        return FakeHunyuan()


@pytest.fixture
def fake() -> Iterator[FakeHunyuan]:
    server = FakeHunyuan(api_key=VENDOR_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(fake: FakeHunyuan) -> Iterator[GatewayHandle]:
    models = [{"name": name, "provider": "hunyuan", "model": model, "base_url": fake.base_url, "api_key": VENDOR_KEY}
              for name, model in MODELS.items()]
    models.append({"name": "t1-translated", "provider": "hunyuan", "model": "hunyuan-t1-latest",
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


def test_thinking_model_answer_is_spec_valid(fake: FakeHunyuan, client: openai.OpenAI) -> None:
    fake.queue_text("是 42。", reasoning="想一想。", usage=fake.usage(20, 10, reasoning=6))
    raw = client.chat.completions.with_raw_response.create(model="t1", messages=[{"role": "user", "content": "q"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "想一想。" and message["content"] == "是 42。"
    assert message["refusal"] is None and body["choices"][0]["logprobs"] is None
    assert body["note"].startswith("以上内容为AI生成")  # Hunyuan's mark is kept
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 6


def test_thinking_switch_only_where_the_model_has_one(fake: FakeHunyuan, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="a13b", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"thinking": {"type": "disabled"}})
    assert fake.last.json()["enable_thinking"] is False
    raw = client.chat.completions.with_raw_response.create(
        model="t1", messages=[{"role": "user", "content": "hi"}], extra_body={"enable_thinking": False})
    assert "enable_thinking" not in fake.last.json()
    assert raw.headers["x-relayport-adjustments"] == "thinking cannot be turned off for hunyuan-t1-latest"
    raw = client.chat.completions.with_raw_response.create(
        model="turbos", messages=[{"role": "user", "content": "hi"}], extra_body={"enable_thinking": True})
    assert "enable_thinking" not in fake.last.json()
    assert raw.headers["x-relayport-adjustments"] == "thinking ignored: hunyuan-turbos-latest does not think"


def test_stream_moves_per_chunk_usage_to_one_final_chunk(fake: FakeHunyuan, gateway: GatewayHandle) -> None:
    fake.queue_text("the answer", reasoning="step one", usage=fake.usage(50, 9, reasoning=3))
    request = {"model": "t1", "stream": True, "stream_options": {"include_usage": True},
               "messages": [{"role": "user", "content": "q"}]}
    _, chunks = _stream(gateway, request)
    assert _text(chunks, "reasoning_content") == "step one" and _text(chunks) == "the answer"
    assert _finishes(chunks) == ["stop"]
    assert [c for c in chunks if c.get("usage")] == [chunks[-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 59
    fake.queue_text("again")
    _, chunks = _stream(gateway, {**request, "stream_options": None})
    assert _text(chunks) == "again" and not any(c.get("usage") for c in chunks)


def test_sensitive_finish_is_content_filter(fake: FakeHunyuan, client: openai.OpenAI, gateway: GatewayHandle) -> None:
    fake.queue_text("部分", finish_reason="sensitive")
    answer = client.chat.completions.create(model="turbos", messages=[{"role": "user", "content": "q"}])
    assert answer.choices[0].finish_reason == "content_filter"
    fake.queue_text("部分", finish_reason="sensitive")
    _, chunks = _stream(gateway, {"model": "turbos", "stream": True, "messages": [{"role": "user", "content": "q"}]})
    assert _finishes(chunks) == ["content_filter"]


def test_enable_search_is_enhancement_with_sources(fake: FakeHunyuan, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="turbos", messages=[{"role": "user", "content": "新闻"}], extra_body={"enable_search": True})
    sent = fake.last.json()
    assert sent["enable_enhancement"] is True and sent["citation"] is True and sent["search_info"] is True
    assert "enable_search" not in sent
    assert orjson.loads(raw.content)["search_info"]["search_results"][0]["url"] == "https://example.com/news"
    client.chat.completions.create(model="turbos", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"enable_search": False})
    sent = fake.last.json()
    assert sent["enable_enhancement"] is False and "search_info" not in sent


def test_penalties_dropped_and_user_runs_merged(fake: FakeHunyuan, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="turbos", frequency_penalty=0.5, presence_penalty=0.2,
        messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    sent = fake.last.json()
    assert "frequency_penalty" not in sent and "presence_penalty" not in sent
    assert sent["messages"] == [{"role": "user", "content": "a\n\nb"}]
    assert raw.headers["x-relayport-adjustments"] == "consecutive same-role messages merged"


WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
CALL = {"id": "call_hy_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "深圳"}'}}


def test_tool_calls_stream_and_round_trip(fake: FakeHunyuan, client: openai.OpenAI, gateway: GatewayHandle) -> None:
    fake.queue_text("", tool_calls=[CALL])
    _, chunks = _stream(gateway, {"model": "turbos", "stream": True, "tools": [WEATHER],
                                  "messages": [{"role": "user", "content": "天气?"}]})
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0]["id"] == "call_hy_1"
    assert "".join(tc["function"].get("arguments") or "" for tc in calls) == '{"city": "深圳"}'
    assert _finishes(chunks) == ["tool_calls"]
    fake.queue_text("晴")
    answer = client.chat.completions.create(model="turbos", tools=[WEATHER], messages=[  # type: ignore[list-item]
        {"role": "user", "content": "天气?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},  # type: ignore[list-item]
        {"role": "tool", "tool_call_id": "call_hy_1", "content": "sunny"},
    ])
    assert answer.choices[0].message.content == "晴"


def test_translated_path_does_the_same(fake: FakeHunyuan, client: openai.OpenAI, gateway: GatewayHandle) -> None:
    fake.queue_text("好", reasoning="想", finish_reason="sensitive")
    raw = client.chat.completions.with_raw_response.create(
        model="t1-translated", presence_penalty=0.1, extra_body={"enable_search": True},
        messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    sent = fake.last.json()
    assert sent["enable_enhancement"] is True and "presence_penalty" not in sent
    assert [m["content"] for m in sent["messages"]] == ["a\n\nb"]
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["finish_reason"] == "content_filter"
    assert body["choices"][0]["message"]["reasoning_content"] == "想"
    fake.queue_text("流", reasoning="思", usage=fake.usage(5, 2))
    _, chunks = _stream(gateway, {"model": "t1-translated", "stream": True, "stream_options": {"include_usage": True},
                                  "messages": [{"role": "user", "content": "q"}]})
    assert _text(chunks, "reasoning_content") == "思" and _text(chunks) == "流"
    assert chunks[-1]["usage"]["total_tokens"] == 7


def test_vendor_error_keeps_hunyuans_message(fake: FakeHunyuan, client: openai.OpenAI) -> None:
    fake.push(hunyuan_error(400, "1001", ALTERNATE))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="turbos", messages=[{"role": "user", "content": "x"}])
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["code"] == "1001" and "交替出现" in envelope["error"]["message"]
    fake.push(hunyuan_error(429, "ResourceInsufficient.ChargeResourceExhaust", "计费资源已耗尽"))
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="turbos", messages=[{"role": "user", "content": "x"}])
    assert rate.value.response.headers["x-should-retry"] == "false"
    assert VENDOR_KEY not in rate.value.response.text
