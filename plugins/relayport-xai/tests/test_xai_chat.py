from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport_xai.testing import FakeXAI

VENDOR_KEY = "xai-vendor-SECRET"
PNG = "data:image/png;base64,iVBORw0KGgo="


class TestXAIConformance(ProviderConformance):
    provider = "xai"
    entry_point = "xai"
    model = "grok-4"
    reasoning_model = "grok-3-mini"

    def make_fake(self) -> FakeXAI:
        return FakeXAI()


@pytest.fixture
def fake():
    f = FakeXAI(api_key=VENDOR_KEY).start()
    yield f
    f.stop()


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": [
        {"name": name, "provider": "xai", "model": model, "base_url": fake.base_url, "api_key": VENDOR_KEY}
        for name, model in (("mini", "grok-3-mini"), ("grok4", "grok-4"), ("grok3", "grok-3"))]}, env={})


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


def test_mini_reasoning_and_usage_counts_reasoning(gw, fake):
    fake.queue_text("42", reasoning="six times seven", usage=fake.usage(10, 2, reasoning=30))
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="mini", messages=[{"role": "user", "content": "6*7?"}], reasoning_effort="medium")
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["message"]["reasoning_content"] == "six times seven"
    assert fake.last.json()["reasoning_effort"] == "high"
    usage = body["usage"]
    assert usage["completion_tokens"] == 32 and usage["total_tokens"] == 42
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 30


def test_stream_reasoning_and_usage(gw, fake):
    fake.queue_text("forty two", reasoning="multiply", usage=fake.usage(10, 2, reasoning=30))
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "mini", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "6*7?"}]}) as r:
        raw = r.read()
    chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n")
              if line.startswith(b"data: ") and line != b"data: [DONE]"]
    for chunk in chunks:
        openapi.validate_chat_chunk(chunk)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "multiply"
    assert "".join(d.get("content") or "" for d in deltas) == "forty two"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and usage["completion_tokens"] == 32 and usage["total_tokens"] == 42


def test_effort_dropped_for_models_that_refuse_it(gw, fake):
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="grok4", messages=[{"role": "user", "content": "hi"}], reasoning_effort="high",
        presence_penalty=0.5, stop=["END"], temperature=0.2)
    sent = fake.last.json()
    assert not {"reasoning_effort", "presence_penalty", "stop"} & set(sent) and sent["temperature"] == 0.2
    adjustments = raw.headers["x-relayport-adjustments"]
    assert "reasoning_effort dropped" in adjustments and "presence_penalty, stop dropped" in adjustments
    assert raw.parse().choices[0].message.content == "echo: hi"
    _client(gw).chat.completions.create(model="grok3", messages=[{"role": "user", "content": "hi"}], stop=["X"])
    assert fake.last.json()["stop"] == ["X"]  # grok-3 is no reasoning model: stop stays


def test_live_search_is_retired(gw, fake):
    before = len(fake.requests)
    with pytest.raises(openai.APIStatusError) as info:
        _client(gw).chat.completions.create(model="grok4", messages=[{"role": "user", "content": "news?"}],
                                            extra_body={"search_parameters": {"mode": "auto"}})
    assert info.value.status_code == 410
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["param"] == "search_parameters" and "web_search" in envelope["error"]["message"]
    assert len(fake.requests) == before  # no call spent
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="grok4", messages=[{"role": "user", "content": "news?"}], extra_body={"enable_search": True})
    assert "enable_search ignored" in raw.headers["x-relayport-adjustments"]
    assert "enable_search" not in fake.last.json() and "search_parameters" not in fake.last.json()


def test_search_tools_pass_through_responses(gw, fake):
    fake.queue_text("today's news")
    response = _client(gw).responses.create(model="grok4", input="news?",
                                            tools=[{"type": "web_search"}, {"type": "x_search"}])
    assert response.output_text == "today's news"
    sent = fake.last
    assert sent.path == "/v1/responses"
    assert sent.json()["tools"] == [{"type": "web_search"}, {"type": "x_search"}]
    assert sent.json()["model"] == "grok-4"


def test_image_input(gw, fake):
    client = _client(gw)
    fake.queue_text("a cat")
    r = client.chat.completions.create(model="grok4", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": PNG}}]}])
    assert r.choices[0].message.content == "a cat"
    assert fake.last.json()["messages"][0]["content"][1]["image_url"]["url"] == PNG
    for model, url, words in (("grok3", PNG, "grok-3 does not take images"),
                              ("grok4", "data:image/webp;base64,UklGRg==", "JPEG and PNG images only")):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": url}}]}])
        err = orjson.loads(info.value.response.content)["error"]
        assert words in err["message"] and err["param"] == "messages[0].content[0]"


def test_images_array_reaches_grok_as_parts(gw, fake):
    fake.queue_text("two images")
    client = _client(gw)
    client.chat.completions.create(model="grok4", messages=[{"role": "user", "content": "compare"}],
                                   extra_body={"images": [PNG, "https://example.com/b.jpg"]})
    parts = fake.last.json()["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="grok4", messages=[{"role": "user", "content": "watch"}],
                                       extra_body={"videos": ["https://example.com/a.mp4"]})
    assert "text and images only" in info.value.message


def test_wrong_key_400_is_a_401(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "grok4", "provider": "xai", "model": "grok-4",
                                        "base_url": fake.base_url, "api_key": "xai-wrong-SECRET"}]}, env={})
    with pytest.raises(openai.AuthenticationError) as info:
        _client(gw).chat.completions.create(model="grok4", messages=[{"role": "user", "content": "hi"}])
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert "Incorrect API key" in envelope["error"]["message"] and envelope["error"]["code"] == "invalid_api_key"
    assert "xai-wrong-SECRET" not in info.value.response.text


def test_spent_credits_are_not_retryable(gw, fake):
    fake.push(fake.error_reply(403, "Your team has run out of credits."))
    with pytest.raises(openai.PermissionDeniedError) as info:
        _client(gw).chat.completions.create(model="grok4", messages=[{"role": "user", "content": "hi"}])
    assert orjson.loads(info.value.response.content)["error"]["type"] == "insufficient_quota"
