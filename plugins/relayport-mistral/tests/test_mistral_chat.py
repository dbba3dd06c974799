from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport_mistral.testing import FakeMistral

VENDOR_KEY = "mistral-vendor-SECRET"


class TestMistralConformance(ProviderConformance):
    provider = "mistral"
    entry_point = "mistral"
    model = "mistral-large-latest"
    reasoning_model = "magistral-medium-latest"

    def make_fake(self) -> FakeMistral:
        return FakeMistral()


@pytest.fixture
def fake():
    f = FakeMistral(api_key=VENDOR_KEY).start()
    yield f
    f.stop()


def _models(fake, **extra):
    return [{"name": name, "provider": "mistral", "model": model, "base_url": fake.base_url, "api_key": VENDOR_KEY,
             **extra} for name, model in (("magistral", "magistral-medium-latest"), ("small", "mistral-small-latest"),
                                           ("large", "mistral-large-latest"))]


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": _models(fake)}, env={})


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


def _sse(raw: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n")
            if line.startswith(b"data: ") and line != b"data: [DONE]"]


def test_magistral_thinking_blocks_become_reasoning_content(gw, fake):
    fake.queue_text("The answer is 4.", reasoning="2 and 2 make 4")
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="magistral", messages=[{"role": "user", "content": "2+2?"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    message = body["choices"][0]["message"]
    assert message["content"] == "The answer is 4."
    assert message["reasoning_content"] == "2 and 2 make 4"
    assert body["choices"][0]["logprobs"] is None and message["refusal"] is None


def test_magistral_stream_chunks_become_string_deltas(gw, fake):
    fake.queue_text("four it is", reasoning="adding two and two", usage=fake.usage(20, 8))
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "magistral", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "2+2?"}]}) as r:
        raw = r.read()
    chunks = _sse(raw)
    for chunk in chunks:
        openapi.validate_chat_chunk(chunk)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert all(not isinstance(d.get("content"), list) for d in deltas)
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "adding two and two"
    assert "".join(d.get("content") or "" for d in deltas) == "four it is"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 28
    assert "stream_options" not in fake.last.json()  # Mistral refuses it; it always sends usage
    assert "x-relayport-adjustments" not in r.headers  # nothing the client asked for was lost


def test_stream_without_include_usage_has_no_usage(gw, fake):
    fake.queue_text("plain words")
    chunks = list(_client(gw).chat.completions.create(
        model="large", stream=True, messages=[{"role": "user", "content": "hi"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "plain words"
    assert all(c.usage is None for c in chunks)


def test_thinking_controls_per_model(gw, fake):
    client = _client(gw)
    fake.queue_text("ok", reasoning="thought")
    r = client.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}],
                                       reasoning_effort="low")
    assert fake.last.json()["reasoning_effort"] == "high"
    assert r.choices[0].message.reasoning_content == "thought"
    client.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"enable_thinking": False})
    assert fake.last.json()["reasoning_effort"] == "none"
    raw = client.chat.completions.with_raw_response.create(
        model="magistral", messages=[{"role": "user", "content": "hi"}], extra_body={"enable_thinking": False})
    assert "reasoning_effort" not in fake.last.json()
    assert "thinking kept on" in raw.headers["x-relayport-adjustments"]


def test_openai_only_fields_dropped_and_seed_renamed(gw, fake):
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="large", messages=[{"role": "user", "content": "hi"}], store=False, user="u-1", seed=7,
        max_completion_tokens=50, extra_body={"safe_prompt": True})
    sent = fake.last.json()
    assert sent["random_seed"] == 7 and sent["max_tokens"] == 50 and sent["safe_prompt"] is True
    assert not {"store", "user", "seed", "max_completion_tokens"} & set(sent)
    assert "store, user dropped" in raw.headers["x-relayport-adjustments"]
    assert raw.parse().choices[0].message.content == "echo: hi"


def test_history_reasoning_and_tool_calls(gw, fake):
    call = {"id": "abcDEF123", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}}
    fake.queue_text("", tool_calls=[call])
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    client = _client(gw)
    first = client.chat.completions.create(model="large", tools=tools,
                                           messages=[{"role": "user", "content": "find x"}])
    assert first.choices[0].finish_reason == "tool_calls"
    fake.queue_text("found")
    second = client.chat.completions.create(model="large", tools=tools, messages=[
        {"role": "user", "content": "find x"},
        {"role": "assistant", "content": None, "tool_calls": [call], "reasoning_content": "need lookup"},
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "x=1"}])
    assert second.choices[0].message.content == "found"  # the fake 422s reasoning_content in history


def test_safe_prompt_forced_by_model_option(relayport_gateway, fake):
    gw = relayport_gateway({"models": _models(fake, options={"safe_prompt": True})}, env={})
    _client(gw).chat.completions.create(model="large", messages=[{"role": "user", "content": "hi"}])
    assert fake.last.json()["safe_prompt"] is True
    _client(gw).chat.completions.create(model="large", messages=[{"role": "user", "content": "hi"}],
                                        extra_body={"safe_prompt": False})
    assert fake.last.json()["safe_prompt"] is True  # the operator's setting wins


def test_model_length_finish_is_length(gw, fake):
    fake.queue_text("cut", finish_reason="model_length")
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="large", messages=[{"role": "user", "content": "hi"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["finish_reason"] == "length"


def test_422_validation_error_names_the_fields(gw, fake):
    with pytest.raises(openai.UnprocessableEntityError) as info:
        _client(gw).chat.completions.create(model="large", messages=[{"role": "user", "content": "hi"}],
                                            extra_body={"frobnicate": 1, "random_seed": "lucky"})
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    err = envelope["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == "frobnicate"
    assert err["code"] == "extra_forbidden"
    assert "frobnicate: Extra inputs are not permitted" in err["message"]
    assert "random_seed: Input should be a valid integer" in err["message"]
    assert "{" not in err["message"]  # no raw dict dumped at the client


def test_edge_errors_keep_status(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "large", "provider": "mistral", "model": "mistral-large-latest",
                                        "base_url": fake.base_url, "api_key": "wrong-SECRET"}]}, env={})
    with pytest.raises(openai.AuthenticationError) as info:
        _client(gw).chat.completions.create(model="large", messages=[{"role": "user", "content": "hi"}])
    assert "Unauthorized" in info.value.response.text and "wrong-SECRET" not in info.value.response.text
