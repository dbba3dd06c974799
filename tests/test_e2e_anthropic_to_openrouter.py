"""Anthropic clients (/v1/messages, from relayport-anthropic) reaching OpenRouter by translation.

Here rather than in the plugin's own tests, which run with only the core and relayport-openrouter
installed."""

from __future__ import annotations

import anthropic
import orjson
import pytest

from relayport.testing.fakes import Reply
from relayport_openrouter.testing import FakeOpenRouter

MODEL = "anthropic/claude-sonnet-4.5"
_START = b'data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"X","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'
_FAILED = (b'data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"X",'
           b'"error":{"code":"server_error","message":"Provider disconnected unexpectedly"},'
           b'"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n')


@pytest.fixture
def fake():
    f = FakeOpenRouter().start()
    yield f
    f.stop()


@pytest.fixture
def gw(relayport_gateway, fake):
    return relayport_gateway({"models": [{"name": "claude", "provider": "openrouter", "model": MODEL,
                                          "base_url": fake.base_url, "api_key": fake.api_key}]}, env={})


def test_anthropic_clients_thinking_budget_reaches_openrouter(fake, gw):
    fake.queue_text("done", reasoning="pondering")
    claude = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    msg = claude.messages.create(model="claude", max_tokens=4096, messages=[{"role": "user", "content": "hi"}],
                                 thinking={"type": "enabled", "budget_tokens": 1024})
    assert orjson.loads(fake.last.body)["reasoning"] == {"enabled": True, "max_tokens": 1024}
    assert [b.type for b in msg.content] == ["thinking", "text"] and msg.content[0].thinking == "pondering"


def test_mid_stream_error_is_an_error_for_anthropic_clients(fake, gw):
    fake.push(Reply.sse([_START, _FAILED, b"data: [DONE]\n\n"]))
    claude = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.APIError, match="disconnected"), claude.messages.stream(
            model="claude", max_tokens=100, messages=[{"role": "user", "content": "x"}]) as stream:
        for _ in stream:
            pass
