from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport_groq.testing import TIMINGS, FakeGroq

VENDOR_KEY = "gsk_groq-vendor-SECRET"


class TestGroqConformance(ProviderConformance):
    provider = "groq"
    entry_point = "groq"
    model = "openai/gpt-oss-20b"

    def make_fake(self) -> FakeGroq:
        return FakeGroq()


@pytest.fixture
def fake():
    f = FakeGroq(api_key=VENDOR_KEY).start()
    yield f
    f.stop()


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": [
        {"name": name, "provider": "groq", "model": model, "base_url": fake.base_url, "api_key": VENDOR_KEY}
        for name, model in (("qwen", "qwen/qwen3-32b"), ("oss", "openai/gpt-oss-120b"),
                            ("llama", "llama-3.3-70b-versatile"))]}, env={})


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


def test_qwen_reasoning_is_parsed_and_returned_as_reasoning_content(gw, fake):
    fake.queue_text("4", reasoning="2 plus 2")
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "2+2?"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    message = body["choices"][0]["message"]
    assert message["content"] == "4" and message["reasoning_content"] == "2 plus 2"
    assert "reasoning" not in message and "<think>" not in message["content"]
    assert fake.last.json()["reasoning_format"] == "parsed"
    assert body["usage"]["queue_time"] == TIMINGS["queue_time"]  # Groq's timings stay in usage


def test_client_chosen_format_is_kept(gw, fake):
    fake.queue_text("4", reasoning="2 plus 2")
    r = _client(gw).chat.completions.create(
        model="qwen", messages=[{"role": "user", "content": "2+2?"}], extra_body={"include_reasoning": False})
    sent = fake.last.json()
    assert sent["include_reasoning"] is False and "reasoning_format" not in sent
    assert r.choices[0].message.content == "4"


def test_thinking_spellings_become_groq_effort_per_model(gw, fake):
    client = _client(gw)
    client.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"enable_thinking": False})
    assert fake.last.json()["reasoning_effort"] == "none"
    client.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "hi"}],
                                   reasoning_effort="high")
    assert fake.last.json()["reasoning_effort"] == "default"
    raw = client.chat.completions.with_raw_response.create(
        model="oss", messages=[{"role": "user", "content": "hi"}], reasoning_effort="minimal")
    assert fake.last.json()["reasoning_effort"] == "low"
    raw = client.chat.completions.with_raw_response.create(
        model="llama", messages=[{"role": "user", "content": "hi"}], reasoning_effort="high")
    assert "reasoning_effort" not in fake.last.json()
    assert "thinking dropped" in raw.headers["x-relayport-adjustments"]


def test_stream_reasoning_deltas_and_x_groq_usage(gw, fake):
    fake.queue_text("the answer", reasoning="step one step two", usage=fake.usage(30, 9))
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "oss", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "q"}]}) as r:
        raw = r.read()
    chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n")
              if line.startswith(b"data: ") and line != b"data: [DONE]"]
    for chunk in chunks:
        openapi.validate_chat_chunk(chunk)
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert (reasoning, text) == ("step one step two", "the answer")
    assert not any("reasoning" in c["choices"][0]["delta"] for c in chunks if c["choices"])
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 39
    assert last["usage"]["total_time"] == TIMINGS["total_time"]
    assert sum(1 for c in chunks if c.get("usage")) == 1


def test_stream_without_include_usage_gets_no_usage(gw, fake):
    fake.queue_text("hi there")
    stream = _client(gw).chat.completions.create(
        model="oss", stream=True, messages=[{"role": "user", "content": "q"}])
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi there"
    assert all(c.usage is None for c in chunks)


def test_tool_turn_history_without_reasoning(gw, fake):
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}
    fake.queue_text("", tool_calls=[call])
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    client = _client(gw)
    first = client.chat.completions.create(model="oss", tools=tools,
                                           messages=[{"role": "user", "content": "weather?"}])
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.tool_calls[0].function.name == "weather"
    fake.queue_text("sunny")
    second = client.chat.completions.create(model="oss", tools=tools, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call], "reasoning_content": "look it up"},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}])
    assert second.choices[0].message.content == "sunny"  # the fake refuses reasoning_content in history
    assert "reasoning_content" not in fake.last.json()["messages"][1]


def test_flex_capacity_498_is_a_retryable_503(gw, fake):
    fake.push(fake.error_reply(498, "Flex tier capacity exceeded"))
    with pytest.raises(openai.APIStatusError) as info:
        _client(gw).chat.completions.create(model="oss", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert "Flex tier capacity exceeded" in envelope["error"]["message"]


def test_wrong_key_is_401_without_the_key(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "oss", "provider": "groq", "model": "openai/gpt-oss-20b",
                                        "base_url": fake.base_url, "api_key": "gsk_wrong-SECRET"}]}, env={})
    with pytest.raises(openai.AuthenticationError) as info:
        _client(gw).chat.completions.create(model="oss", messages=[{"role": "user", "content": "hi"}])
    assert "gsk_wrong-SECRET" not in info.value.response.text
