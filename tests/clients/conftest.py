"""The client matrix: popular client libraries driving the gateway as their users do.

One gateway in front of two fakes that enforce the vendors' rules: CLAUDE (FakeAnthropic:
translated on the OpenAI surface, passed through on /v1/messages) and GPT (FakeOpenAI:
passed through on the OpenAI surface, translated on /v1/messages). Every library is built with
retries off, so a 429 reaches the test as the library's own error.

Run by nox's `clients` session, which installs the libraries (RELAYPORT_CLIENT_MATRIX=1 lets
pytest collect this folder; the `tests` session leaves it out).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

# litellm would fetch its price list from the internet at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from relayport.testing.fakes import FakeOpenAI  # noqa: E402
from relayport.testing.servers import GatewayHandle, start_gateway  # noqa: E402
from relayport_anthropic.testing import FakeAnthropic  # noqa: E402

GATEWAY_KEY = "sk-gateway-clients"
# Gateway model names as users write them (libraries pick per-model behaviour from the name).
CLAUDE = "claude-sonnet-4-5"
GPT = "gpt-4o-mini"
MODELS = (CLAUDE, GPT)


class Vendors:
    """The fakes behind the gateway, by the gateway model name that reaches each."""

    def __init__(self) -> None:
        self.anthropic = FakeAnthropic(api_key="sk-ant-clients").start()
        self.openai = FakeOpenAI(api_key="sk-openai-clients").start()

    def __getitem__(self, model: str) -> Any:
        return self.anthropic if model == CLAUDE else self.openai

    def reset(self) -> None:
        for fake in (self.anthropic, self.openai):
            fake.turns.clear()
            fake.replies.clear()
            fake.requests.clear()

    def stop(self) -> None:
        self.anthropic.stop()
        self.openai.stop()


@pytest.fixture(scope="session")
def vendors() -> Iterator[Vendors]:
    v = Vendors()
    yield v
    v.stop()


@pytest.fixture(scope="session")
def gateway(vendors: Vendors) -> Iterator[GatewayHandle]:
    config = {
        "server": {"state_path": ":memory:"},
        "auth": {"keys": [GATEWAY_KEY]},
        "models": [
            {"name": CLAUDE, "provider": "anthropic", "model": "claude-sonnet-4-5",
             "base_url": vendors.anthropic.base_url, "api_key": vendors.anthropic.api_key},
            {"name": GPT, "provider": "openai", "model": "gpt-4o-mini",
             "base_url": vendors.openai.base_url, "api_key": vendors.openai.api_key},
        ],
    }
    handle = start_gateway(config, env={"RELAYPORT_LOAD_PLUGINS": "anthropic,openai"})
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def _fresh(vendors: Vendors) -> Iterator[None]:
    vendors.reset()
    yield
    vendors.reset()


def weather_call(call_id: str = "call_1", city: str = "Lima") -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": "get_weather", "arguments": orjson.dumps({"city": city}).decode()}}
