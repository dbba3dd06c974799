from __future__ import annotations

import json

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport_mimo.testing import FakeMiMo

CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Beijing"})}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


class TestMiMoConformance(ProviderConformance):
    provider = "mimo"
    entry_point = "mimo"
    model = "mimo-v2-flash"
    auth_header = "api-key"
    auth_format = "{key}"

    def make_fake(self) -> FakeMiMo:
        return FakeMiMo()


@pytest.fixture
def fake():
    f = FakeMiMo().start()
    yield f
    f.stop()


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": [
        {"name": "mimo", "provider": "mimo", "model": "mimo-v2.5-pro",
         "base_url": fake.base_url, "api_key": fake.api_key}]}, env={})


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


def test_key_goes_in_the_api_key_header(fake, client):
    client.chat.completions.create(model="mimo", messages=[{"role": "user", "content": "hi"}])
    assert fake.last.headers["api-key"] == fake.api_key
    assert fake.auth_seen[-1] == "api-key"


def test_thinking_answer_validates_with_null_details_dropped(fake, client):
    fake.queue_text("4", reasoning="2+2", usage=fake.usage(30, 8, reasoning=5))
    raw = client.chat.completions.with_raw_response.create(
        model="mimo", messages=[{"role": "user", "content": "2+2?"}], max_tokens=300)
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["message"]["reasoning_content"] == "2+2"
    assert "prompt_tokens_details" not in body["usage"]
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5
    sent = orjson.loads(fake.last.body)
    assert sent["max_completion_tokens"] == 300 and "max_tokens" not in sent


def test_thinking_switch_is_mimos_thinking_type(fake, gw):
    for enabled, wire in ((False, "disabled"), (True, "enabled")):
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "mimo", "messages": [{"role": "user", "content": "hi"}], "enable_thinking": enabled})
        assert r.status_code == 200, r.text
        sent = orjson.loads(fake.last.body)
        assert sent["thinking"] == {"type": wire} and "enable_thinking" not in sent


def test_stream_reasoning_and_usage(fake, client):
    fake.queue_text("answer", reasoning="because", usage=fake.usage(10, 4, reasoning=2))
    chunks = list(client.chat.completions.create(
        model="mimo", messages=[{"role": "user", "content": "q"}], stream=True,
        stream_options={"include_usage": True}))
    for c in chunks:
        openapi.validate_chat_chunk(c.model_dump(exclude_unset=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "because"
    assert "".join(d.content or "" for d in deltas) == "answer"
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 2


def test_tool_turn_replays_reasoning_as_mimo_requires(fake, client):
    fake.queue_text("", reasoning="need weather", tool_calls=[CALL])
    first = client.chat.completions.create(
        model="mimo", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS)
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and msg.tool_calls[0].function.name == "get_weather"
    history = [{"role": "user", "content": "weather?"}, msg.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    second = client.chat.completions.create(model="mimo", messages=history, tools=TOOLS)
    assert second.choices[0].message.content.startswith("echo")
    assert orjson.loads(fake.last.body)["messages"][1]["reasoning_content"] == "need weather"


def test_tool_turn_without_reasoning_is_mimos_400(fake, client):
    history = [{"role": "user", "content": "weather?"},
               {"role": "assistant", "content": None, "tool_calls": [CALL]},
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="mimo", messages=history, tools=TOOLS)
    assert "reasoning_content" in info.value.message


def test_bad_key_is_a_401_without_the_key(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "mimo", "provider": "mimo", "model": "mimo-v2-flash",
                                        "base_url": fake.base_url, "api_key": "sk-wrong-SECRET"}]}, env={})
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": "mimo", "messages": [{"role": "user", "content": "q"}]})
    assert r.status_code == 401
    openapi.validate_error(r.json())
    assert "SECRET" not in r.text
