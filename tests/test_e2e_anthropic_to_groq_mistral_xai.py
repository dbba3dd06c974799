"""Anthropic clients (`anthropic` SDK on /v1/messages) reaching Groq, Mistral and xAI by translation.

Needs the Messages surface from relayport-anthropic besides the vendor plugins, so it lives
with the whole-suite tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_groq.testing import FakeGroq
from relayport_mistral.testing import FakeMistral
from relayport_xai.testing import FakeXAI

GATEWAY_KEY = "sk-gateway-anthropic-e2e-3"


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeGroq | FakeMistral | FakeXAI]]:
    started = {"groq": FakeGroq().start(), "mistral": FakeMistral().start(), "xai": FakeXAI().start()}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture
def gateway(fakes) -> Iterator[GatewayHandle]:
    models = [("qwen", "groq", "qwen/qwen3-32b"), ("magistral", "mistral", "magistral-medium-latest"),
              ("safe", "mistral", "mistral-large-latest"), ("grok4", "xai", "grok-4")]
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]}, "models": [
        {"name": name, "provider": vendor, "model": model, "base_url": fakes[vendor].base_url,
         "api_key": fakes[vendor].api_key, **({"options": {"safe_prompt": True}} if name == "safe" else {})}
        for name, vendor, model in models]}, env={})
    yield handle
    handle.stop()


def _client(gateway: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)


def test_groq_stream_reads_x_groq_usage(gateway, fakes):
    fakes["groq"].queue_text("hello from groq", reasoning="thinking hard", usage=fakes["groq"].usage(21, 5))
    with _client(gateway).messages.stream(model="qwen", max_tokens=100,
                                          messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "thinking hard" and final.content[1].text == "hello from groq"
    assert final.usage.input_tokens == 21 and final.usage.output_tokens == 5
    assert fakes["groq"].last.json()["reasoning_format"] == "parsed"


def test_magistral_stream_thinking_chunks(gateway, fakes):
    fake = fakes["mistral"]
    fake.queue_text("hello there", reasoning="greet back", usage=fake.usage(11, 4))
    with _client(gateway).messages.stream(model="magistral", max_tokens=200,
                                          messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "greet back" and final.content[1].text == "hello there"
    assert final.usage.output_tokens == 4
    assert "stream_options" not in fake.last.json()


def test_magistral_non_stream_thinking_chunks(gateway, fakes):
    fakes["mistral"].queue_text("fine", reasoning="consider it")
    msg = _client(gateway).messages.create(model="magistral", max_tokens=200,
                                           messages=[{"role": "user", "content": "hi"}])
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in msg.content] == [
        ("thinking", "consider it"), ("text", "fine")]


def test_mistral_safe_prompt_option_on_translation(gateway, fakes):
    _client(gateway).messages.create(model="safe", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert fakes["mistral"].last.json()["safe_prompt"] is True


def test_grok_tools_with_thinking_request(gateway, fakes):
    call = {"id": "call_9", "type": "function", "function": {"name": "calc", "arguments": '{"x":1}'}}
    fakes["xai"].queue_text("", tool_calls=[call])
    msg = _client(gateway).messages.create(
        model="grok4", max_tokens=100, messages=[{"role": "user", "content": "calc"}],
        tools=[{"name": "calc", "input_schema": {"type": "object"}}],
        thinking={"type": "enabled", "budget_tokens": 2048})
    assert msg.stop_reason == "tool_use" and msg.content[-1].input == {"x": 1}
    assert "reasoning_effort" not in fakes["xai"].last.json()  # grok-4 refuses it (the fake would 400)
