"""The test kit's `relayport_gateway` fixture, as a plugin author's tests use it."""

from __future__ import annotations

import openai
import pytest

from relayport.testing.fakes import FakeOpenAI
from relayport.testing.plugin import gateways


@pytest.fixture
def kit_gateway():
    """The kit's own fixture, as a plugin's tests get it (the core's tests override
    `relayport_gateway` to keep the router's defaults)."""
    with gateways() as start:
        yield start


@pytest.fixture
def vendor():
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def _config(vendor: FakeOpenAI, **extra):
    return {"models": [{"name": "m", "provider": "openai", "model": "gpt-4o-mini",
                        "base_url": vendor.base_url, "api_key": vendor.api_key}], **extra}


def test_a_vendor_error_reaches_the_test_after_one_attempt(kit_gateway, vendor):
    gw = kit_gateway(_config(vendor), env={})
    vendor.push(vendor.error_reply(503, "overloaded"))
    vendor.queue_text("would be the retry's answer")
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    assert len(vendor.requests) == 1


def test_a_test_that_asks_for_retries_gets_them(kit_gateway, vendor):
    gw = kit_gateway(_config(vendor, router={"max_attempts": 2, "retry_same": True, "backoff": 0.0}), env={})
    vendor.push(vendor.error_reply(503, "overloaded"))
    vendor.queue_text("second time lucky")
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="x", max_retries=0)
    answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "second time lucky"
    assert len(vendor.requests) == 2
