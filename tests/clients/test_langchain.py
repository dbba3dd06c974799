"""LangChain against the gateway: `ChatOpenAI` on the OpenAI surface, `ChatAnthropic` on /v1/messages.

Each runs on both models (CLAUDE, GPT), so every surface is seen both passed through and
translated. Items of issue 7 reproduced with the client that hit them are marked.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from relayport.model.http import ADJUSTMENTS_HEADER
from relayport.testing.servers import GatewayHandle
from tests.clients.conftest import CLAUDE, GATEWAY_KEY, GPT, MODELS, Vendors, weather_call


class Weather(BaseModel):
    city: str
    temp_c: int


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return "20C"


def chat_openai(gateway: GatewayHandle, model: str, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=gateway.openai_base_url, api_key=GATEWAY_KEY,  # type: ignore[arg-type]
                      max_retries=0, **kwargs)


def chat_anthropic(gateway: GatewayHandle, model: str, **kwargs: Any) -> ChatAnthropic:
    kwargs.setdefault("max_tokens", 1000)
    return ChatAnthropic(model=model, base_url=gateway.url, api_key=GATEWAY_KEY,  # type: ignore[call-arg,arg-type]
                         max_retries=0, **kwargs)


# =================================================================== ChatOpenAI (OpenAI surface)


@pytest.mark.parametrize("model", MODELS)
def test_openai_text_and_usage(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("Hello there.")
    msg = chat_openai(gateway, model).invoke("hi")
    assert msg.content == "Hello there."
    assert msg.usage_metadata is not None and msg.usage_metadata["input_tokens"] > 0
    assert msg.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_openai_stream_with_usage(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("one two three four")
    chunks = list(chat_openai(gateway, model, stream_usage=True).stream("count"))
    assert "".join(str(c.content) for c in chunks) == "one two three four"
    total = chunks[0]
    for c in chunks[1:]:
        total += c  # type: ignore[assignment]
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_openai_tool_loop(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    llm = chat_openai(gateway, model).bind_tools([get_weather])
    vendors[model].queue_text("", tool_calls=[weather_call("call_w1")])
    history: list[Any] = [HumanMessage("Weather in Lima?")]
    ai = llm.invoke(history)
    assert isinstance(ai, AIMessage) and ai.tool_calls[0]["name"] == "get_weather"
    assert ai.tool_calls[0]["args"] == {"city": "Lima"}
    history += [ai, ToolMessage(get_weather.invoke(ai.tool_calls[0]["args"]), tool_call_id=ai.tool_calls[0]["id"])]
    vendors[model].queue_text("It is 20C in Lima.")
    assert llm.invoke(history).content == "It is 20C in Lima."
    sent = vendors[model].last.json()
    if model == CLAUDE:
        assert sent["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": "call_w1",
                                                      "content": "20C"}
    else:
        assert sent["messages"][-1] == {"role": "tool", "tool_call_id": "call_w1", "content": "20C"}


@pytest.mark.parametrize("model", MODELS)
def test_openai_structured_output_json_schema(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text('{"city": "Lima", "temp_c": 20}')
    out = chat_openai(gateway, model).with_structured_output(Weather, method="json_schema").invoke("Lima?")
    assert out == Weather(city="Lima", temp_c=20)


@pytest.mark.parametrize("model", MODELS)
def test_openai_structured_output_json_mode(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    # Issue 7 item 5: json_object was dropped for Claude; now an instruction plus a prefilled
    # "{" that Claude continues (so its fake answers the rest of the object).
    vendors[model].queue_text('{"city": "Lima", "temp_c": 20}' if model == GPT else '"city": "Lima", "temp_c": 20}')
    out = chat_openai(gateway, model).with_structured_output(Weather, method="json_mode").invoke(
        "Lima? Answer in JSON with city and temp_c.")
    assert out == Weather(city="Lima", temp_c=20)


def test_openai_function_calling_structured_output_on_a_reasoning_claude(
        gateway: GatewayHandle, vendors: Vendors) -> None:
    # Issue 7 item 2: reasoning_effort + a forced tool was Claude's 400.
    vendors.anthropic.queue_turn([{"type": "tool_use", "id": "toolu_s", "name": "Weather",
                                   "input": {"city": "Lima", "temp_c": 20}}])
    llm = chat_openai(gateway, CLAUDE, reasoning_effort="high")
    out = llm.with_structured_output(Weather, method="function_calling").invoke("Lima?")
    assert out == Weather(city="Lima", temp_c=20)
    assert "thinking" not in vendors.anthropic.last.json()


@pytest.mark.parametrize("model", MODELS)
def test_openai_reasoning(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("Four.", reasoning="2 and 2 make 4")
    msg = chat_openai(gateway, model, reasoning_effort="low").invoke("2+2?")
    assert msg.content == "Four."
    sent = vendors[model].last.json()
    if model == CLAUDE:
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    else:
        assert sent["reasoning_effort"] == "low"


def test_openai_metadata_to_claude(gateway: GatewayHandle, vendors: Vendors) -> None:
    # Issue 7 item 5: free-form metadata was Claude's 400.
    llm = chat_openai(gateway, CLAUDE, extra_body={"metadata": {"user_id": "u1", "session": "s"}})
    assert llm.invoke("hi").content == "echo: hi"
    assert vendors.anthropic.last.json()["metadata"] == {"user_id": "u1"}


@pytest.mark.parametrize("model", MODELS)
def test_openai_errors(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    with pytest.raises(openai.NotFoundError):
        chat_openai(gateway, "no-such-model").invoke("hi")
    vendors[model].push(vendors[model].error_reply(429, "slow down"))
    with pytest.raises(openai.RateLimitError) as info:
        chat_openai(gateway, model).invoke("hi")
    assert "slow down" in str(info.value)


def test_openai_adjustments_reach_the_client(gateway: GatewayHandle, vendors: Vendors) -> None:
    vendors.anthropic.queue_text('"a": 1}')
    raw = openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY).chat.completions.with_raw_response.create(
        model=CLAUDE, messages=[{"role": "user", "content": "json"}], response_format={"type": "json_object"})
    assert raw.headers[ADJUSTMENTS_HEADER] == "json_object by instruction and prefill"


# =================================================================== ChatAnthropic (/v1/messages)


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_text_and_usage(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("Hello there.")
    msg = chat_anthropic(gateway, model).invoke("hi")
    assert msg.content == "Hello there."
    assert msg.usage_metadata is not None and msg.usage_metadata["input_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_stream_with_usage(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("one two three four")
    chunks = list(chat_anthropic(gateway, model).stream("count"))
    total = chunks[0]
    for c in chunks[1:]:
        total += c  # type: ignore[assignment]
    assert total.text == "one two three four"
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] > 0 and total.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_tool_loop(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    llm = chat_anthropic(gateway, model).bind_tools([get_weather])
    vendors[model].queue_text("", tool_calls=[weather_call("toolu_w1")])
    history: list[Any] = [HumanMessage("Weather in Lima?")]
    ai = llm.invoke(history)
    assert isinstance(ai, AIMessage) and ai.tool_calls[0]["args"] == {"city": "Lima"}
    history += [ai, ToolMessage("20C", tool_call_id=ai.tool_calls[0]["id"])]
    vendors[model].queue_text("It is 20C in Lima.")
    assert llm.invoke(history).text == "It is 20C in Lima."


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_structured_output(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("", tool_calls=[{"id": "toolu_s", "type": "function", "function": {
        "name": "Weather", "arguments": '{"city": "Lima", "temp_c": 20}'}}])
    assert chat_anthropic(gateway, model).with_structured_output(Weather).invoke("Lima?") == Weather(
        city="Lima", temp_c=20)
    vendors[model].queue_text('{"city": "Lima", "temp_c": 20}')
    out = chat_anthropic(gateway, model).with_structured_output(Weather, method="json_schema").invoke("Lima?")
    assert out == Weather(city="Lima", temp_c=20)


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_thinking(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("Four.", reasoning="2 and 2 make 4")
    msg = chat_anthropic(gateway, model, max_tokens=3000,
                         thinking={"type": "enabled", "budget_tokens": 1024}).invoke("2+2?")
    assert isinstance(msg.content, list)
    assert [b["type"] for b in msg.content] == ["thinking", "text"]  # type: ignore[index]
    assert msg.content[0]["thinking"] == "2 and 2 make 4"  # type: ignore[index]


def test_anthropic_conversation_moving_to_claude_keeps_working(gateway: GatewayHandle, vendors: Vendors) -> None:
    # Issue 7 item 3: the gateway's unsigned thinking from a gpt turn was Claude's 400 forever after.
    vendors.openai.queue_text("Four.", reasoning="2 and 2 make 4")
    history: list[Any] = [HumanMessage("2+2?")]
    history.append(chat_anthropic(gateway, GPT, max_tokens=3000,
                                  thinking={"type": "enabled", "budget_tokens": 1024}).invoke(history))
    history.append(HumanMessage("and 3+3?"))
    vendors.anthropic.queue_text("Six.")
    assert chat_anthropic(gateway, CLAUDE).invoke(history).text == "Six."


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_count_tokens(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    # Issue 7 item 7: get_num_tokens_from_messages was a 404 for non-Claude models.
    n = chat_anthropic(gateway, model).get_num_tokens_from_messages([HumanMessage("word " * 200)])
    assert 200 <= n <= 300


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_errors(gateway: GatewayHandle, vendors: Vendors, model: str) -> None:
    with pytest.raises(anthropic.NotFoundError):
        chat_anthropic(gateway, "no-such-model").invoke("hi")
    vendors[model].push(vendors[model].error_reply(429, "slow down"))
    with pytest.raises(anthropic.RateLimitError) as info:
        chat_anthropic(gateway, model).invoke("hi")
    assert "slow down" in str(info.value)
