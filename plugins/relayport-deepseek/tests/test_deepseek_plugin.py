from __future__ import annotations

import httpx
import openai
import orjson

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import FakeOpenAI


class TestDeepSeekConformance(ProviderConformance):
    provider = "deepseek"
    entry_point = "deepseek"
    model = "deepseek-chat"

    def make_fake(self) -> FakeOpenAI:
        return FakeOpenAI(usage_style="deepseek")


def _gateway(relayport_gateway, fake):
    return relayport_gateway(
        {"models": [{"name": "ds", "provider": "deepseek", "model": "deepseek-reasoner",
                     "base_url": fake.base_url, "api_key": fake.api_key}]},
        env={},
    )


def _deepseek_fake():
    return FakeOpenAI(usage_style="deepseek").start()


def test_cache_hits_and_reasoning_non_stream(relayport_gateway):
    fake = _deepseek_fake()
    try:
        gw = _gateway(relayport_gateway, fake)
        fake.queue_text("42", reasoning="Let me think.", usage=fake.usage(100, 20, cached=64, reasoning=12))
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="ds", messages=[{"role": "user", "content": "answer?"}])
        body = orjson.loads(raw.content)
        openapi.validate_chat_completion(body)
        usage = body["usage"]
        assert usage["prompt_tokens_details"]["cached_tokens"] == 64
        assert usage["prompt_cache_hit_tokens"] == 64  # the vendor's own field stays
        assert usage["completion_tokens_details"]["reasoning_tokens"] == 12
        assert body["choices"][0]["message"]["reasoning_content"] == "Let me think."
        assert raw.parse().usage.prompt_tokens_details.cached_tokens == 64
    finally:
        fake.stop()


def test_cache_hits_in_streamed_usage_and_reasoning_deltas(relayport_gateway):
    fake = _deepseek_fake()
    try:
        gw = _gateway(relayport_gateway, fake)
        fake.queue_text("the answer", reasoning="step one step two", usage=fake.usage(50, 9, cached=32))
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)
        stream = client.chat.completions.create(
            model="ds", messages=[{"role": "user", "content": "q"}], stream=True,
            stream_options={"include_usage": True})
        reasoning, text, usage = "", "", None
        for chunk in stream:
            if chunk.choices:
                delta = chunk.choices[0].delta
                reasoning += getattr(delta, "reasoning_content", None) or ""
                text += delta.content or ""
            if chunk.usage:
                usage = chunk.usage
        assert reasoning == "step one step two"
        assert text == "the answer"
        assert usage is not None and usage.prompt_tokens_details.cached_tokens == 32
    finally:
        fake.stop()


def test_thinking_controls_use_deepseek_spelling(relayport_gateway):
    fake = _deepseek_fake()
    try:
        gw = _gateway(relayport_gateway, fake)
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "ds", "messages": [{"role": "user", "content": "hi"}],
            "enable_thinking": True, "reasoning_effort": "low", "thinking_budget": 1024})
        assert r.status_code == 200, r.text
        sent = orjson.loads(fake.last.body)
        assert sent["model"] == "deepseek-reasoner"
        assert sent["thinking"] == {"type": "enabled"}
        assert sent["reasoning_effort"] == "high"
        assert "enable_thinking" not in sent and "thinking_budget" not in sent
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "ds", "messages": [{"role": "user", "content": "hi"}], "enable_thinking": False})
        assert orjson.loads(fake.last.body)["thinking"] == {"type": "disabled"}
    finally:
        fake.stop()
