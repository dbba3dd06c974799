"""litellm as a client of the gateway: `openai/<model>` on the OpenAI surface, `anthropic/<model>`
on /v1/messages, each on both models."""

from __future__ import annotations

from typing import Any

import litellm
import orjson
import pytest
from pydantic import BaseModel

from relayport.testing.servers import GatewayHandle
from tests.clients.conftest import CLAUDE, GATEWAY_KEY, GPT, MODELS, Vendors, weather_call

SURFACES = ("openai", "anthropic")
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


class Weather(BaseModel):
    city: str
    temp_c: int


def call(gateway: GatewayHandle, surface: str, model: str, **kwargs: Any) -> Any:
    base = gateway.openai_base_url if surface == "openai" else gateway.url
    kwargs.setdefault("max_tokens", 500)
    return litellm.completion(model=f"{surface}/{model}", api_base=base, api_key=GATEWAY_KEY,
                              max_retries=0, num_retries=0, **kwargs)


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_text_and_usage(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    vendors[model].queue_text("Hello there.")
    r = call(gateway, surface, model, messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello there."
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_stream_with_usage(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    vendors[model].queue_text("one two three four")
    chunks = list(call(gateway, surface, model, messages=[{"role": "user", "content": "count"}], stream=True,
                       stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usage and usage[-1].completion_tokens > 0


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_tool_loop(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Lima?"}]
    vendors[model].queue_text("", tool_calls=[weather_call("toolu_l1")])
    r = call(gateway, surface, model, messages=messages, tools=TOOLS)
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls"
    assert calls[0].function.name == "get_weather" and orjson.loads(calls[0].function.arguments) == {"city": "Lima"}
    messages += [r.choices[0].message.model_dump(),
                 {"role": "tool", "tool_call_id": calls[0].id, "content": "20C"}]
    vendors[model].queue_text("It is 20C in Lima.")
    assert call(gateway, surface, model, messages=messages, tools=TOOLS).choices[0].message.content == (
        "It is 20C in Lima.")


@pytest.mark.parametrize("model", MODELS)
def test_structured_output(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text('{"city": "Lima", "temp_c": 20}')
    r = call(gateway, "openai", model, messages=[{"role": "user", "content": "Lima?"}], response_format=Weather)
    assert Weather.model_validate_json(r.choices[0].message.content) == Weather(city="Lima", temp_c=20)


def test_reasoning_on_claude(gateway: GatewayHandle, vendors: Vendors) -> None:
    vendors.anthropic.queue_text("Four.", reasoning="2 and 2 make 4")
    r = call(gateway, "openai", CLAUDE, messages=[{"role": "user", "content": "2+2?"}], reasoning_effort="low",
             max_tokens=4000)
    assert r.choices[0].message.content == "Four."
    assert r.choices[0].message.reasoning_content == "2 and 2 make 4"


def test_thinking_through_the_messages_surface_on_gpt(gateway: GatewayHandle, vendors: Vendors) -> None:
    vendors.openai.queue_text("Four.", reasoning="2 and 2 make 4")
    r = call(gateway, "anthropic", GPT, messages=[{"role": "user", "content": "2+2?"}], max_tokens=3000,
             thinking={"type": "enabled", "budget_tokens": 1024}, allowed_openai_params=["thinking"])
    assert r.choices[0].message.content == "Four."
    assert r.choices[0].message.reasoning_content == "2 and 2 make 4"


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", MODELS)
def test_errors(gateway: GatewayHandle, vendors: Vendors, surface: str, model: str) -> None:
    with pytest.raises(litellm.NotFoundError):
        call(gateway, surface, "no-such-model", messages=[{"role": "user", "content": "hi"}])
    vendors[model].push(vendors[model].error_reply(429, "slow down"))
    with pytest.raises(litellm.RateLimitError):
        call(gateway, surface, model, messages=[{"role": "user", "content": "hi"}])
