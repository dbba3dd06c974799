from __future__ import annotations

import json

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport_sensenova.testing import FakeSenseNova

MODEL = "sensenova-6.7-flash-lite"
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Hangzhou"})}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


class TestSenseNovaConformance(ProviderConformance):
    provider = "sensenova"
    entry_point = "sensenova"
    model = MODEL

    def make_fake(self) -> FakeSenseNova:
        return FakeSenseNova()


@pytest.fixture
def fake():
    f = FakeSenseNova().start()
    yield f
    f.stop()


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": [
        {"name": "nova", "provider": "sensenova", "model": MODEL, "base_url": fake.base_url,
         "api_key": fake.api_key},
        {"name": "nova-typed", "provider": "sensenova", "model": MODEL, "base_url": fake.base_url,
         "api_key": fake.api_key, "options": {"thinking": "thinking_type"}},
        {"name": "nova-missing", "provider": "sensenova", "model": "sensenova-nope",
         "base_url": fake.base_url, "api_key": fake.api_key},
    ]}, env={})


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


def test_reasoning_becomes_reasoning_content_and_validates(fake, client):
    fake.queue_text("Hi!", reasoning="Thinking Process: greet", usage=fake.usage(37, 12))
    raw = client.chat.completions.with_raw_response.create(
        model="nova", messages=[{"role": "user", "content": "hello"}], max_tokens=2000)
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    msg = body["choices"][0]["message"]
    assert msg["reasoning_content"] == "Thinking Process: greet" and "reasoning" not in msg


def test_stream_open_finish_is_null_and_reasoning_streams(fake, gw):
    fake.queue_text("Spring wind", reasoning="Thinking")
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "nova", "messages": [{"role": "user", "content": "poem"}], "stream": True})
    chunks = [orjson.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    for c in chunks:
        openapi.validate_chat_chunk(c)
    content = [c for c in chunks if c["choices"]]
    assert [c["choices"][0]["finish_reason"] for c in content] == [None] * (len(content) - 1) + ["stop"]
    assert "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in content) == "Thinking"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in content) == "Spring wind"


def test_reasoning_is_not_sent_back(fake, client):
    client.chat.completions.create(model="nova", messages=[
        {"role": "user", "content": "capital of France?"},
        {"role": "assistant", "content": "Paris.", "reasoning_content": "it is Paris"},
        {"role": "user", "content": "And Germany?"}])
    assert orjson.loads(fake.last.body)["messages"][1] == {"role": "assistant", "content": "Paris."}


def test_fields_outside_sensenovas_table_are_dropped_or_rewritten(fake, client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    raw = client.chat.completions.with_raw_response.create(
        model="nova", messages=[{"role": "user", "content": "city?"}], user="u-1", store=False,
        metadata={"a": "b"}, max_tokens=100000,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert raw.http_response.status_code == 200
    sent = orjson.loads(fake.last.body)
    assert not {"user", "store", "metadata", "response_format"} & set(sent)
    assert sent["max_tokens"] == 65536
    system = sent["messages"][0]
    assert system["role"] == "system" and '"city"' in system["content"]  # the schema, as an instruction
    assert "65536" in raw.headers["x-relayport-adjustments"]


def test_thinking_switch_is_reasoning_effort_or_per_model_thinking_type(fake, gw):
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "nova", "messages": [{"role": "user", "content": "hi"}],
        "enable_thinking": True, "reasoning_effort": "high"})
    assert r.status_code == 200, r.text
    sent = orjson.loads(fake.last.body)
    assert sent["reasoning_effort"] == "high" and "enable_thinking" not in sent and "thinking" not in sent
    httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "nova-typed", "messages": [{"role": "user", "content": "hi"}], "enable_thinking": False})
    assert orjson.loads(fake.last.body)["thinking"] == {"type": "disabled"}


def test_streamed_tool_call(fake, client):
    fake.queue_text("", tool_calls=[CALL])
    args, finish = "", None
    for chunk in client.chat.completions.create(model="nova", messages=[{"role": "user", "content": "w"}],
                                                tools=TOOLS, stream=True):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                args += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert json.loads(args) == {"city": "Hangzhou"} and finish == "tool_calls"


def test_vague_refusal_gets_a_hint(fake, client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="nova", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"repetition_penalty": 1.0, "unknown_knob": 1})
    body = info.value.response.json()
    openapi.validate_error(body)
    assert "Errors in message queue response" in body["error"]["message"]
    assert "parameter table" in body["error"]["message"] and body["error"]["code"] == "3"


def test_unknown_model_is_sensenovas_404(fake, client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nova-missing", messages=[{"role": "user", "content": "hi"}])
    assert "model is not found" in info.value.message


def test_bad_key_is_a_401(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "nova", "provider": "sensenova", "model": MODEL,
                                        "base_url": fake.base_url, "api_key": "bad-SECRET"}]}, env={})
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": "nova", "messages": [{"role": "user", "content": "q"}]})
    assert r.status_code == 401
    openapi.validate_error(r.json())
    assert "SECRET" not in r.text
