"""The OpenAI Agents SDK (which speaks only Responses by default) running an agent with one
function tool against a non-OpenAI model (DeepSeek, translated by the gateway)."""

from __future__ import annotations

import openai
import orjson
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

from relayport.testing.fakes import FakeOpenAI

KEY = "sk-gw-agents"


async def test_agent_with_a_function_tool(relayport_gateway) -> None:
    set_tracing_disabled(True)  # no trace upload: tests never reach the internet
    fake = FakeOpenAI(api_key="sk-ds-vendor").start()
    try:
        gw = relayport_gateway({"auth": {"keys": [KEY]}, "models": [
            {"name": "ds", "provider": "deepseek", "model": "deepseek-chat", "base_url": fake.base_url,
             "api_key": fake.api_key}]}, env={})
        calls: list[str] = []

        @function_tool
        def weather(city: str) -> str:
            """Current weather in a city."""
            calls.append(city)
            return f"{city}: 21C and clear"

        fake.queue_text("", tool_calls=[{"id": "call_a1", "type": "function",
                                         "function": {"name": "weather", "arguments": '{"city":"Kyoto"}'}}])
        fake.queue_text("Kyoto is 21C and clear.")
        client = openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=KEY, max_retries=0)
        agent = Agent(name="forecaster", instructions="Use the weather tool.", tools=[weather],
                      model=OpenAIResponsesModel(model="ds", openai_client=client))
        result = await Runner.run(agent, "What's the weather in Kyoto?")
        await client.close()
    finally:
        fake.stop()
    assert result.final_output == "Kyoto is 21C and clear."
    assert calls == ["Kyoto"]
    first, second = (orjson.loads(r.body) for r in fake.requests)
    assert first["tools"][0]["function"]["name"] == "weather"
    assert first["messages"][0] == {"role": "system", "content": "Use the weather tool."}
    # The tool's result went back to DeepSeek as a tool message after the call it answers.
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_a1"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_a1", "content": "Kyoto: 21C and clear"}
