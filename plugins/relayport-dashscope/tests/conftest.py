from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from dashscope_fake import FakeDashScope

from relayport.testing.servers import GatewayHandle

# Anthropic clients reach Qwen through the /v1/messages surface of relayport-anthropic, another
# package: those end-to-end tests run where it is installed (the whole suite, `nox -s tests`),
# not in this plugin's alone-environment (`nox -s plugin`), which proves the package itself.
collect_ignore = [] if importlib.util.find_spec("relayport_anthropic") else ["test_dashscope_anthropic.py"]


@pytest.fixture
def dashscope() -> Iterator[FakeDashScope]:
    fake = FakeDashScope()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def ds_gateway(relayport_gateway: Callable[..., GatewayHandle],
               dashscope: FakeDashScope) -> Callable[..., GatewayHandle]:
    """A gateway whose models (name -> DashScope model id) all go to the fake."""

    def start(*models: str, base_url: str | None = None, **options: Any) -> GatewayHandle:
        entries = [{"name": m, "provider": "dashscope", "model": m,
                    "base_url": base_url or dashscope.base_url, "api_key": dashscope.api_key,
                    **({"options": options} if options else {})} for m in models]
        return relayport_gateway({"models": entries}, env={})

    return start


def client(gw: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)
