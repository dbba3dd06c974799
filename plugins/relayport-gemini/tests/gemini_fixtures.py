"""Fixtures: a fake Gemini API, a media server, and a gateway in front of them.

Imported by the test modules that use them rather than kept in a conftest.py: the Anthropic
plugin's tests import names from `conftest`, and two test folders with a conftest.py each
collide on that module name when the whole repo is tested at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gemini_helpers import GATEWAY_KEY, GEMINI_KEY

from relayport.testing.fakes import FakeUpstream
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_gemini.testing import FakeGemini

MODELS = {"gemini-flash": "gemini-2.5-flash", "gemini-3": "gemini-3-pro-preview",
          "gemini-2.0-flash": "gemini-2.0-flash", "gemini-pro": "gemini-2.5-pro"}


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini(api_key=GEMINI_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def media_server() -> Iterator[FakeUpstream]:
    """Where the client's image/audio URLs point (the gateway downloads from it)."""
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def gateway(fake_gemini: FakeGemini) -> Iterator[GatewayHandle]:
    config: dict[str, Any] = {
        "server": {"state_path": ":memory:"},
        "auth": {"keys": [GATEWAY_KEY]},
        # The media server is on loopback: allowed here, refused by default.
        "fetch": {"allow_private": True, "max_bytes": 4096},
        "models": [{"name": name, "provider": "gemini", "model": model, "base_url": fake_gemini.base_url,
                    "api_key": GEMINI_KEY} for name, model in MODELS.items()],
    }
    handle = start_gateway(config, env={"RELAYPORT_LOAD_PLUGINS": "gemini"})
    yield handle
    handle.stop()


@pytest.fixture
def openai_client(gateway: GatewayHandle) -> Any:
    import openai

    return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
