"""Anthropic clients (`anthropic` SDK on /v1/messages) reaching Kimi and GLM by translation.

Needs three plugins at once (the Messages surface from relayport-anthropic, the vendors from
relayport-moonshot and relayport-zhipu), so it lives with the whole-suite tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from relayport.testing.fakes import Reply
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_moonshot.testing import FakeMoonshot
from relayport_zhipu.testing import FakeZhipu, glm_error

GATEWAY_KEY = "sk-gateway-anthropic-e2e"
KIMI_KEY = "sk-kimi-vendor"
GLM_KEY = "glm-vendor.key"

WEATHER = {"name": "weather", "description": "weather of a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL = {"id": "call_w1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "北京"}'}}


@pytest.fixture
def kimi() -> Iterator[FakeMoonshot]:
    fake = FakeMoonshot(api_key=KIMI_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def glm() -> Iterator[FakeZhipu]:
    fake = FakeZhipu(api_key=GLM_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def gateway(kimi: FakeMoonshot, glm: FakeZhipu) -> Iterator[GatewayHandle]:
    # Translation is what these tests are about; the vendor's own Anthropic endpoint is
    # tested in test_e2e_anthropic_compat_endpoints.py.
    translate = {"anthropic": False}
    config = {"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]}, "models": [
        {"name": "kimi", "provider": "moonshot", "model": "kimi-k2.6", "base_url": kimi.base_url, "api_key": KIMI_KEY,
         "options": translate},
        {"name": "glm", "provider": "zhipu", "model": "glm-4.6", "base_url": glm.base_url, "api_key": GLM_KEY,
         "options": translate},
    ]}
    handle = start_gateway(config, env={"RELAYPORT_LOAD_PLUGINS": "anthropic,moonshot,zhipu"})
    yield handle
    handle.stop()


@pytest.fixture
def client(gateway: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.mark.parametrize("model", ["kimi", "glm"])
def test_thinking_comes_back_as_thinking_blocks(client: anthropic.Anthropic, kimi: FakeMoonshot,
                                                glm: FakeZhipu, model: str) -> None:
    fake = kimi if model == "kimi" else glm
    fake.queue_text("答案是 42。", reasoning="先算一下。", usage=fake.usage(30, 12))
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "6 乘 7?"}])
    msg = raw.parse()
    vendor = "Kimi" if model == "kimi" else "GLM"
    assert raw.headers["x-relayport-adjustments"] == f"thinking_budget dropped: {vendor} has no thinking budget"
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "先算一下。" and msg.content[1].text == "答案是 42。"
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens == 30 and msg.usage.output_tokens == 12
    assert fake.last.json()["thinking"] == {"type": "enabled"}


@pytest.mark.parametrize("model", ["kimi", "glm"])
def test_streamed_tool_use(client: anthropic.Anthropic, kimi: FakeMoonshot, glm: FakeZhipu, model: str) -> None:
    fake = kimi if model == "kimi" else glm
    fake.queue_text("", tool_calls=[CALL], usage=fake.usage(40, 9, cached=8))
    with client.messages.stream(model=model, max_tokens=512, tools=[WEATHER],
                                messages=[{"role": "user", "content": "北京天气?"}]) as stream:
        final = stream.get_final_message()
    [use] = [b for b in final.content if b.type == "tool_use"]
    assert use.name == "weather" and use.input == {"city": "北京"} and final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 9 and final.usage.cache_read_input_tokens == 8
    if model == "glm":
        assert fake.last.json()["tool_stream"] is True  # the arguments stream as Anthropic clients expect


def test_kimi_continues_a_prefilled_turn_in_partial_mode(client: anthropic.Anthropic, kimi: FakeMoonshot) -> None:
    kimi.queue_text("月光。")
    msg = client.messages.create(model="kimi", max_tokens=100, messages=[
        {"role": "user", "content": "续写"}, {"role": "assistant", "content": "床前明"}])
    assert msg.content[0].text == "月光。"
    assert kimi.last.json()["messages"][-1] == {"role": "assistant", "content": "床前明", "partial": True}


def test_glm_safety_stop_mid_stream_is_a_refusal(client: anthropic.Anthropic, glm: FakeZhipu) -> None:
    start = b'data: {"id":"1","created":1,"model":"glm-4.6","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}\n\n'
    glm.push(Reply.sse([start, b'data: {"error":{"code":"1301","message":"unsafe"}}\n\n', b"data: [DONE]\n\n"]))
    with client.messages.stream(model="glm", max_tokens=100, messages=[{"role": "user", "content": "x"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Hello" and final.stop_reason == "refusal"


def test_glm_arrears_reach_an_anthropic_client_unretried(gateway: GatewayHandle, glm: FakeZhipu) -> None:
    glm.push(glm_error(429, "1113", "您的账户已欠费，请充值后重试。"))
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=2)
    with pytest.raises(anthropic.RateLimitError) as info:
        sdk.messages.create(model="glm", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    body: Any = info.value.body
    assert body["type"] == "error" and "欠费" in body["error"]["message"]
    assert len(glm.requests) == 1  # x-should-retry: false kept the SDK from retrying
