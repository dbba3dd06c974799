from __future__ import annotations

import orjson

from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import FakeOpenAI


class TestOpenAIConformance(ProviderConformance):
    provider = "openai"
    entry_point = "openai"
    model = "gpt-4o-mini"

    def make_fake(self) -> FakeOpenAI:
        return FakeOpenAI()


def test_extension_fields_are_translated_not_forwarded(relayport_gateway, fake_openai):
    """OpenAI rejects unknown parameters, so gateway extensions must not reach it verbatim."""
    gw = relayport_gateway(
        {"models": [{"name": "g", "provider": "openai", "model": "gpt-4o-mini",
                     "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}]},
        env={},
    )
    import httpx

    body = {"model": "g", "messages": [{"role": "user", "content": "look"}],
            "enable_thinking": True, "reasoning_effort": "low", "thinking_budget": 500,
            "enable_search": True, "images": ["https://example.com/a.png"]}
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=body, timeout=10)
    assert r.status_code == 200, r.text
    sent = orjson.loads(fake_openai.last.body)
    assert sent["model"] == "gpt-4o-mini"
    assert sent["reasoning_effort"] == "low"
    for key in ("enable_thinking", "thinking_budget", "enable_search", "images"):
        assert key not in sent
    assert sent["messages"][-1]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
