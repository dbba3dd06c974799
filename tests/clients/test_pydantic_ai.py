"""pydantic-ai against the gateway: `OpenAIChatModel` on the OpenAI surface, `AnthropicModel` on
/v1/messages, each on both models."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

from relayport.testing.servers import GatewayHandle
from tests.clients.conftest import CLAUDE, GATEWAY_KEY, GPT, MODELS, Vendors, weather_call

SURFACES = ("openai", "anthropic")


class Weather(BaseModel):
    city: str
    temp_c: int


def model_for(gateway: GatewayHandle, surface: str, name: str) -> Any:
    if surface == "openai":
        client = AsyncOpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
        return OpenAIChatModel(name, provider=OpenAIProvider(openai_client=client))
    aclient = AsyncAnthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)
    return AnthropicModel(name, provider=AnthropicProvider(anthropic_client=aclient))


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_text_and_usage(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    vendors[model].queue_text("Hello there.")
    result = Agent(model_for(gateway, surface, model)).run_sync("hi")
    assert result.output == "Hello there."
    usage = result.usage()
    assert usage.input_tokens > 0 and usage.output_tokens > 0


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_stream(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    vendors[model].queue_text("one two three four")

    async def run() -> tuple[list[str], Any]:
        agent = Agent(model_for(gateway, surface, model))
        async with agent.run_stream("count") as result:
            pieces = [t async for t in result.stream_text(delta=True)]
            return pieces, result.usage()

    pieces, usage = asyncio.run(run())
    assert "".join(pieces) == "one two three four"
    assert usage.output_tokens > 0


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_tool_loop(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    agent = Agent(model_for(gateway, surface, model))
    seen: list[str] = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        seen.append(city)
        return "20C"

    vendors[model].queue_text("", tool_calls=[weather_call("toolu_p1" if surface == "anthropic" else "call_p1")])
    vendors[model].queue_text("It is 20C in Lima.")
    assert agent.run_sync("Weather in Lima?").output == "It is 20C in Lima."
    assert seen == ["Lima"]


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_structured_output_by_tool(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    vendors[model].queue_text("", tool_calls=[{"id": "toolu_o1", "type": "function", "function": {
        "name": "final_result", "arguments": '{"city": "Lima", "temp_c": 20}'}}])
    out = Agent(model_for(gateway, surface, model), output_type=Weather).run_sync("Lima?").output
    assert out == Weather(city="Lima", temp_c=20)


@pytest.mark.parametrize("model", MODELS)
def test_native_structured_output(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    # response_format json_schema on the OpenAI surface: Claude gets the schema adapted.
    vendors[model].queue_text('{"city": "Lima", "temp_c": 20}')
    agent = Agent(model_for(gateway, "openai", model), output_type=NativeOutput(Weather))
    assert agent.run_sync("Lima?").output == Weather(city="Lima", temp_c=20)
    if model == CLAUDE:
        schema = vendors.anthropic.last.json()["output_config"]["format"]["schema"]
        assert schema["additionalProperties"] is False


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_errors(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    with pytest.raises(ModelHTTPError) as info:
        Agent(model_for(gateway, surface, "no-such-model")).run_sync("hi")
    assert info.value.status_code == 404
    vendors[model].push(vendors[model].error_reply(429, "slow down"))
    with pytest.raises(ModelHTTPError) as info:
        Agent(model_for(gateway, surface, model)).run_sync("hi")
    assert info.value.status_code == 429


def test_reasoning_on_claude_through_the_openai_surface(gateway: GatewayHandle, vendors: Vendors) -> None:
    vendors.anthropic.queue_text("Four.", reasoning="2 and 2 make 4")
    agent = Agent(model_for(gateway, "openai", CLAUDE), model_settings={"openai_reasoning_effort": "low"})
    assert agent.run_sync("2+2?").output == "Four."
    assert vendors.anthropic.last.json()["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_thinking_through_the_messages_surface_on_gpt(gateway: GatewayHandle, vendors: Vendors) -> None:
    vendors.openai.queue_text("Four.", reasoning="2 and 2 make 4")
    agent = Agent(model_for(gateway, "anthropic", GPT),
                  model_settings={"max_tokens": 3000, "anthropic_thinking": {"type": "enabled", "budget_tokens": 1024}})
    result = agent.run_sync("2+2?")
    assert result.output == "Four."
    # The vendor's reasoning comes back as a thinking part.
    parts = result.all_messages()[-1].parts
    assert [p.part_kind for p in parts] == ["thinking", "text"]
    assert parts[0].content == "2 and 2 make 4"
