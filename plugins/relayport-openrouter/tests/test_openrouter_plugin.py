from __future__ import annotations

import json

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import Reply
from relayport_openrouter.testing import FakeOpenRouter, openrouter_error

MODEL = "anthropic/claude-sonnet-4.5"
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


class TestOpenRouterConformance(ProviderConformance):
    provider = "openrouter"
    entry_point = "openrouter"
    model = MODEL

    def make_fake(self) -> FakeOpenRouter:
        return FakeOpenRouter()


@pytest.fixture
def fake():
    f = FakeOpenRouter().start()
    yield f
    f.stop()


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": [{"name": "claude", "provider": "openrouter", "model": MODEL,
                                          "base_url": fake.base_url, "api_key": fake.api_key}]}, env={})


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


def test_reasoning_and_reasoning_details_reach_the_client(fake, client):
    fake.queue_text("Paris", reasoning="capital of France", usage=fake.usage(20, 9, reasoning=4))
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "capital?"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    msg = body["choices"][0]["message"]
    assert msg["reasoning_content"] == "capital of France" and "reasoning" not in msg
    assert msg["reasoning_details"][0] == {"type": "reasoning.text", "text": "capital of France",
                                           "signature": "sig-1", "format": "anthropic-claude-v1", "index": 0}
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 4
    assert body["provider"] == "Anthropic"


def test_stream_skips_processing_comments_and_maps_reasoning(fake, gw):
    fake.queue_text("Paris is", reasoning="think it over")
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "claude", "messages": [{"role": "user", "content": "q"}], "stream": True,
        "stream_options": {"include_usage": True}})
    chunks = [orjson.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    for c in chunks:
        openapi.validate_chat_chunk(c)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "think it over"
    assert "".join(d.get("content") or "" for d in deltas) == "Paris is"
    assert all("reasoning" not in d for d in deltas)
    assert any(d.get("reasoning_details") for d in deltas)
    assert chunks[-1]["usage"]["total_tokens"] == 19


def test_thinking_controls_become_the_reasoning_object(fake, gw):
    cases = [({"reasoning_effort": "high"}, {"effort": "high"}),
             ({"enable_thinking": True, "thinking_budget": 2048}, {"enabled": True, "max_tokens": 2048}),
             ({"enable_thinking": False}, {"enabled": False}),
             ({"reasoning_effort": "low", "reasoning": {"exclude": True}}, {"exclude": True, "effort": "low"})]
    for extra, wire in cases:
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "claude", "messages": [{"role": "user", "content": "hi"}], **extra})
        assert r.status_code == 200, r.text
        sent = orjson.loads(fake.last.body)
        assert sent["reasoning"] == wire
        assert not {"reasoning_effort", "enable_thinking", "thinking_budget"} & set(sent)


def test_provider_routing_preferences_pass_through(fake, client):
    prefs = {"order": ["anthropic", "amazon-bedrock"], "allow_fallbacks": False, "sort": "throughput"}
    client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"provider": prefs, "models": ["openai/gpt-5"]})
    sent = orjson.loads(fake.last.body)
    assert sent["provider"] == prefs and sent["models"] == ["openai/gpt-5"] and sent["model"] == MODEL


def test_reasoning_history_goes_back_as_reasoning_with_its_details(fake, client):
    details = [{"type": "reasoning.text", "text": "t", "signature": "s", "index": 0}]
    client.chat.completions.create(model="claude", messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "", "tool_calls": [CALL], "reasoning_content": "t",
         "reasoning_details": details},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}], tools=TOOLS)
    sent = orjson.loads(fake.last.body)["messages"][1]
    assert sent["reasoning"] == "t" and sent["reasoning_details"] == details


def test_streamed_tool_call(fake, client):
    fake.queue_text("", tool_calls=[CALL])
    args, finish = "", None
    for chunk in client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "w"}],
                                                tools=TOOLS, stream=True):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                args += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert json.loads(args) == {"city": "Paris"} and finish == "tool_calls"


def test_spent_credits_are_a_402_not_retried(fake, gw):
    fake.credits = 0
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=2)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 402
    assert len(fake.requests) == 1  # neither the gateway nor the SDK tried again
    body = info.value.response.json()
    openapi.validate_error(body)
    assert body["error"]["type"] == "insufficient_quota" and body["error"]["code"] == "insufficient_credits"
    assert "Insufficient credits" in body["error"]["message"]


def test_bad_request_keeps_openrouters_message(fake, client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"provider": {"bogus": 1}})
    assert "provider preferences" in info.value.message
    assert info.value.body.get("code") != "400"


_START = b'data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"X","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'
_FAILED = (b'data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"X",'
           b'"error":{"code":"server_error","message":"Provider disconnected unexpectedly"},'
           b'"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n')


def test_mid_stream_error_is_an_error_for_openai_clients(fake, client):
    fake.push(Reply.sse([b": OPENROUTER PROCESSING\n\n", _START, _FAILED, b"data: [DONE]\n\n"]))
    stream = client.chat.completions.create(model="claude", stream=True, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.APIError, match="disconnected"):
        for _ in stream:
            pass


def test_moderation_block_is_a_403_content_filter(fake, client):
    fake.push(openrouter_error(403, "Input flagged by moderation", {
        "reasons": ["harassment"], "flagged_input": "...", "provider_name": "OpenAI", "model_slug": MODEL}))
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    body = info.value.response.json()
    openapi.validate_error(body)
    assert body["error"]["code"] == "content_filter" and "flagged" in body["error"]["message"]
