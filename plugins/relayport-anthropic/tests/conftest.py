"""Fixtures: a fake Anthropic API, a fake OpenAI-compatible vendor, and gateways in front of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anthropic_helpers import ANTHROPIC_KEY, GATEWAY_KEY, OPENAI_KEY, OpenAICompatVendor

from relayport.testing.fakes import FakeOpenAI
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_anthropic.testing import FakeAnthropic


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic(api_key=ANTHROPIC_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_compat() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key=OPENAI_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def gateway(fake_anthropic: FakeAnthropic, fake_compat: FakeOpenAI) -> Iterator[GatewayHandle]:
    """Claude models and an OpenAI-compatible model behind one gateway."""
    config: dict[str, Any] = {
        "server": {"state_path": ":memory:"},
        "auth": {"keys": [GATEWAY_KEY]},
        "models": [
            {"name": "claude-test", "provider": "anthropic", "model": "claude-sonnet-4-5",
             "base_url": fake_anthropic.base_url, "api_key": ANTHROPIC_KEY},
            {"name": "claude-3-test", "provider": "anthropic", "model": "claude-3-7-sonnet",
             "base_url": fake_anthropic.base_url, "api_key": ANTHROPIC_KEY,
             "options": {"default_max_tokens": 1500}},
            {"name": "compat-test", "provider": "compat", "model": "gpt-fake",
             "base_url": fake_compat.base_url, "api_key": OPENAI_KEY},
        ],
    }
    handle = start_gateway(config, env={"RELAYPORT_LOAD_PLUGINS": "anthropic,compat-vendor"},
                           extra_plugins={"compat-vendor": OpenAICompatVendor()})
    yield handle
    handle.stop()


@pytest.fixture
def openai_client(gateway: GatewayHandle) -> Any:
    import openai

    return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.fixture
def anthropic_client(gateway: GatewayHandle) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)
