from __future__ import annotations

import json

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport_stepfun.testing import FakeStepFun

WEATHER = {"id": "call_1", "type": "function",
           "function": {"name": "get_weather", "arguments": json.dumps({"city": "Shanghai"})}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


class TestStepFunConformance(ProviderConformance):
    provider = "stepfun"
    entry_point = "stepfun"
    model = "step-2-mini"
    vision_model = "step-1v-8k"

    def make_fake(self) -> FakeStepFun:
        return FakeStepFun()


@pytest.fixture
def fake():
    f = FakeStepFun().start()
    yield f
    f.stop()


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": [
        {"name": "step", "provider": "stepfun", "model": "step-3.7-flash",
         "base_url": fake.base_url, "api_key": fake.api_key},
        {"name": "step-text", "provider": "stepfun", "model": "step-2-mini",
         "base_url": fake.base_url, "api_key": fake.api_key},
    ]}, env={})


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


def test_reasoning_field_becomes_reasoning_content_and_cache_hits_map(fake, client):
    fake.queue_text("42", reasoning="think first", usage=fake.usage(100, 20, cached=64))
    raw = client.chat.completions.with_raw_response.create(
        model="step", messages=[{"role": "user", "content": "answer?"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    msg = body["choices"][0]["message"]
    assert msg["reasoning_content"] == "think first" and "reasoning" not in msg
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 64


def test_stream_open_chunks_and_usage_on_every_chunk_become_openais(fake, gw):
    fake.queue_text("the answer", reasoning="step one step two", usage=fake.usage(50, 9, cached=32))
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "step", "messages": [{"role": "user", "content": "q"}], "stream": True,
        "stream_options": {"include_usage": True}})
    chunks = [orjson.loads(line[6:]) for line in r.text.splitlines()
              if line.startswith("data: {")]
    for c in chunks:
        openapi.validate_chat_chunk(c)
    content = [c for c in chunks if c["choices"]]
    assert all(c.get("usage") is None for c in content)  # StepFun's cumulative usage is moved
    assert all(ch["finish_reason"] in (None, "stop") for c in content for ch in c["choices"])
    assert all(ch["delta"].get("role") in (None, "assistant") for c in content for ch in c["choices"])
    assert [c["choices"][0]["finish_reason"] for c in content][-1] == "stop"
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in content)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in content)
    assert (reasoning, text) == ("step one step two", "the answer")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 50
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 32


def test_stream_without_include_usage_has_no_usage_chunk(fake, client):
    fake.queue_text("hi there")
    chunks = list(client.chat.completions.create(
        model="step", messages=[{"role": "user", "content": "q"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi there"


def test_reasoning_history_goes_back_as_reasoning(fake, client):
    client.chat.completions.create(model="step", messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "earlier thought"},
        {"role": "user", "content": "again"}])
    sent = orjson.loads(fake.last.body)["messages"][1]
    assert sent["reasoning"] == "earlier thought" and "reasoning_content" not in sent


def test_effort_is_spelled_for_step_3_7_flash(fake, client):
    client.chat.completions.create(model="step", messages=[{"role": "user", "content": "q"}],
                                   reasoning_effort="minimal")
    assert orjson.loads(fake.last.body)["reasoning_effort"] == "low"


def test_streamed_tool_call(fake, client):
    fake.queue_text("", tool_calls=[WEATHER])
    stream = client.chat.completions.create(
        model="step", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS, stream=True)
    args, name, finish = "", None, None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                name = call.function.name or name
                args += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert (name, json.loads(args), finish) == ("get_weather", {"city": "Shanghai"}, "tool_calls")
    assert orjson.loads(fake.last.body)["tools"] == TOOLS


def test_image_reaches_a_vision_model_and_a_text_model_refuses_it(fake, client):
    image = [{"type": "text", "text": "what is it"},
             {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]
    client.chat.completions.create(model="step", messages=[{"role": "user", "content": image}])
    assert orjson.loads(fake.last.body)["messages"][0]["content"][1]["image_url"]["detail"] == "low"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="step-text", messages=[{"role": "user", "content": image}])
    assert "image" in info.value.message
    openapi.validate_error(info.value.response.json())


def test_bad_key_is_a_401_in_openais_envelope(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "step", "provider": "stepfun", "model": "step-2-mini",
                                        "base_url": fake.base_url, "api_key": "wrong"}]}, env={})
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": "step", "messages": [{"role": "user", "content": "q"}]})
    assert r.status_code == 401
    openapi.validate_error(r.json())
    assert "wrong" not in r.text
