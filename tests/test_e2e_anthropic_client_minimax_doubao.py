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
from relayport_minimax.testing import FakeMiniMax

GATEWAY_KEY = "sk-gateway-anthropic-client"


@pytest.fixture
def minimax() -> Iterator[FakeMiniMax]:
    fake = FakeMiniMax().start()
    yield fake
    fake.stop()


@pytest.fixture
def minimax_gateway(relayport_gateway, minimax: FakeMiniMax) -> GatewayHandle:
    return relayport_gateway({"auth": {"keys": [GATEWAY_KEY]}, "models": [
        {"name": "MiniMax-M2.7", "provider": "minimax", "model": "MiniMax-M2.7",
         "base_url": minimax.base_url, "api_key": minimax.api_key}]}, env={})


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
