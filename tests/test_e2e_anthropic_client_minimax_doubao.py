"""An Anthropic client (the `anthropic` SDK on /v1/messages) reaching MiniMax and Doubao (Ark).

Neither vendor speaks Anthropic's format here, so the gateway translates; the vendor plugins'
reasoning handling must reach the client as thinking blocks. Lives in the core's tests because
it needs the Anthropic surface (relayport-anthropic) beside the vendor plugins.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from relayport.testing.servers import GatewayHandle
from relayport_doubao.testing import FakeArk
from relayport_minimax.testing import FakeMiniMax

GATEWAY_KEY = "sk-gateway-anthropic-client"


@pytest.fixture
def minimax() -> Iterator[FakeMiniMax]:
    fake = FakeMiniMax().start()
    yield fake
    fake.stop()


@pytest.fixture
def minimax_gateway(relayport_gateway, minimax: FakeMiniMax) -> GatewayHandle:
    # Translation is what these tests are about; the vendor's own Anthropic endpoint is
    # tested in test_e2e_anthropic_compat_endpoints.py.
    return relayport_gateway({"auth": {"keys": [GATEWAY_KEY]}, "models": [
        {"name": "MiniMax-M2.7", "provider": "minimax", "model": "MiniMax-M2.7",
         "base_url": minimax.base_url, "api_key": minimax.api_key, "options": {"anthropic": False}}]}, env={})


def _client(gw: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)


def test_minimax_message_with_thinking(minimax_gateway: GatewayHandle, minimax: FakeMiniMax) -> None:
    minimax.queue_text("Ten.", reasoning="Count the primes below 30.", usage=minimax.usage(20, 9))
    message = _client(minimax_gateway).messages.create(
        model="MiniMax-M2.7", max_tokens=512, messages=[{"role": "user", "content": "primes below 30?"}])
    kinds = [block.type for block in message.content]
    assert kinds == ["thinking", "text"]
    assert message.content[0].thinking == "Count the primes below 30."
    assert message.content[1].text == "Ten."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 20 and message.usage.output_tokens == 9
    assert minimax.last.json()["max_completion_tokens"] == 512


def test_minimax_stream_with_think_tags(minimax_gateway: GatewayHandle, minimax: FakeMiniMax) -> None:
    minimax.queue_text("It is even.", reasoning="2h+1 + 2k+1 = 2(h+k+1).")
    with _client(minimax_gateway).messages.stream(
            model="MiniMax-M2.7", max_tokens=256, messages=[{"role": "user", "content": "prove it"}],
            extra_body={"reasoning_split": False}) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "2h+1 + 2k+1 = 2(h+k+1)."
    assert final.content[1].text == "It is even."  # the repeated last frame is not appended


def test_minimax_http_200_error_reaches_an_anthropic_client(minimax_gateway: GatewayHandle,
                                                            minimax: FakeMiniMax) -> None:
    minimax.push(minimax.business_error(1008, "insufficient balance"))
    with pytest.raises(anthropic.APIStatusError) as info:
        _client(minimax_gateway).messages.create(
            model="MiniMax-M2.7", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 402
    assert "insufficient balance (1008)" in info.value.message


# ---------------------------------------------------------------------------- Doubao (Ark)


@pytest.fixture
def ark() -> Iterator[FakeArk]:
    fake = FakeArk().start()
    yield fake
    fake.stop()


@pytest.fixture
def ark_gateway(relayport_gateway, ark: FakeArk) -> GatewayHandle:
    return relayport_gateway({"auth": {"keys": [GATEWAY_KEY]}, "models": [
        {"name": "doubao-seed-2-0-pro-260215", "provider": "doubao", "model": "ep-20260215123456-abcde",
         "base_url": ark.base_url, "api_key": ark.api_key}]}, env={})


def test_doubao_thinking_and_an_image_from_an_anthropic_client(ark_gateway: GatewayHandle, ark: FakeArk) -> None:
    ark.queue_text("A red square.", reasoning="The image is a single colour.")
    message = _client(ark_gateway).messages.create(
        model="doubao-seed-2-0-pro-260215", max_tokens=1024,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://example.com/red.png"}},
            {"type": "text", "text": "What is this?"}]}])
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "The image is a single colour."
    sent = ark.last.json()
    assert sent["model"] == "ep-20260215123456-abcde"
    assert sent["thinking"] == {"type": "enabled"}
    assert sent["messages"][0]["content"][0] == {"type": "image_url",
                                                 "image_url": {"url": "https://example.com/red.png"}}


def test_doubao_error_mid_stream_reaches_an_anthropic_client(ark_gateway: GatewayHandle, ark: FakeArk) -> None:
    ark.queue_text("one two three", fail_after=2, error_event=True)
    with pytest.raises(anthropic.APIError) as info, _client(ark_gateway).messages.stream(
            model="doubao-seed-2-0-pro-260215", max_tokens=64,
            messages=[{"role": "user", "content": "hi"}]) as stream:
        stream.get_final_message()
    assert "failed during generation" in str(info.value)
