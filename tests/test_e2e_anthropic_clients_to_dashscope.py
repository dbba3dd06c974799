"""An Anthropic client on /v1/messages reaches Qwen by translation to DashScope's compatible mode.

Here rather than in plugins/relayport-dashscope: it needs two plugins (relayport-anthropic's
surface and relayport-dashscope's vendor), which only the whole suite installs together; each
plugin's own tests also run alone, with just that plugin installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import pytest

from relayport.testing.servers import GatewayHandle
from relayport_dashscope.testing import COMPAT, FakeDashScope


@pytest.fixture
def dashscope() -> Iterator[FakeDashScope]:
    fake = FakeDashScope()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def ds_gateway(relayport_gateway: Callable[..., GatewayHandle],
               dashscope: FakeDashScope) -> Callable[[str], GatewayHandle]:
    def start(model: str) -> GatewayHandle:
        # Translation is what these tests are about; the vendor's own Anthropic endpoint is
        # tested in test_e2e_anthropic_compat_endpoints.py.
        return relayport_gateway({"models": [{"name": model, "provider": "dashscope", "model": model,
                                              "base_url": dashscope.base_url, "api_key": dashscope.api_key,
                                              "options": {"anthropic": False}}]},
                                 env={})

    return start


def _client(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


def test_messages_with_thinking_and_tools(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("", reasoning="I should look it up.",
                         tool_calls=[{"id": "call_9", "type": "function",
                                      "function": {"name": "get_weather", "arguments": '{"city":"Hangzhou"}'}}])
    msg = _client(gw).messages.create(
        model="qwen-plus", max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        messages=[{"role": "user", "content": "weather in Hangzhou?"}])
    assert dashscope.last.path == COMPAT
    sent = dashscope.last.json()
    assert sent["enable_thinking"] is True and sent["thinking_budget"] == 1024
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    kinds = [b.type for b in msg.content]
    assert kinds == ["thinking", "tool_use"]
    assert msg.content[0].thinking == "I should look it up."
    assert msg.content[1].input == {"city": "Hangzhou"}
    assert msg.stop_reason == "tool_use"


def test_messages_stream(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("hello from qwen", reasoning="greet back", usage=dashscope.usage(11, 6))
    with _client(gw).messages.stream(model="qwen-plus", max_tokens=500,
                                     messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == "hello from qwen"
    assert final.usage.output_tokens == 6
    assert dashscope.last.json()["stream"] is True


def test_messages_to_a_stream_only_model_are_joined(dashscope, ds_gateway):
    gw = ds_gateway("qwq-plus")
    dashscope.queue_text("joined answer", reasoning="deep thought")
    msg = _client(gw).messages.create(model="qwq-plus", max_tokens=500,
                                      messages=[{"role": "user", "content": "x"}])
    assert msg.content[-1].text == "joined answer"
    assert dashscope.last.json()["stream"] is True


def test_inspection_failure_mid_stream_is_a_content_filter_error_for_anthropic_clients(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("partial words", error="data_inspection_failed")
    with pytest.raises(anthropic.APIError) as info, _client(gw).messages.stream(
            model="qwen-plus", max_tokens=100, messages=[{"role": "user", "content": "x"}]) as stream:
        stream.get_final_message()
    assert "content inspection" in str(info.value)
