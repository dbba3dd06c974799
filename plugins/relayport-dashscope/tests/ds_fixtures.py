from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from relayport.testing.servers import GatewayHandle
from relayport.testing.task_fakes import serving
from relayport_dashscope.testing import FakeDashScope

# The test modules import these fixtures by their function names, which differ from the fixture
# names so that the imports do not shadow the tests' parameters. Not a conftest.py: the test
# folders of all plugins share one pytest session, where every conftest module is named
# `conftest`, and another plugin's `from conftest import ...` would find ours.


@pytest.fixture(name="dashscope")
def dashscope_fixture() -> Iterator[FakeDashScope]:
    yield from serving(FakeDashScope())


@pytest.fixture(name="ds_gateway")
def ds_gateway_fixture(relayport_gateway: Callable[..., GatewayHandle],
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
