"""End to end: the `openai` SDK's Responses API -> gateway /v1/responses -> fake Anthropic API.

Claude's signed thinking must come back unmodified on the next turn (else Claude answers 400);
through the Responses API it travels in the reasoning item's `encrypted_content`, or stays in
the gateway's store with `previous_response_id`. Every body and event is validated against
OpenAI's schema; the fake refuses what the real API refuses (tampered signatures included).
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest
from anthropic_helpers import GATEWAY_KEY

from relayport.testing import openapi
from relayport.testing.servers import GatewayHandle
from relayport_anthropic.testing import FakeAnthropic

WEATHER = {"type": "function", "name": "weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def create(client: Any, **kwargs: Any) -> Any:
    raw = client.responses.with_raw_response.create(**kwargs)
    openapi.validate_response(orjson.loads(raw.content))
    return raw.parse()


def raw_stream(gateway: GatewayHandle, **body: Any) -> list[dict[str, Any]]:
    r = httpx.post(gateway.openai_base_url + "/responses", json={**body, "stream": True},
                   headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=30)
    assert r.status_code == 200, r.text
    return openapi.validate_response_stream(r.content)


def thinking_tool_turn(fake: FakeAnthropic) -> None:
    fake.queue_turn([
        {"type": "thinking", "thinking": "I need the weather tool for Paris."},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedacted"},
        {"type": "tool_use", "id": "toolu_R1", "name": "weather", "input": {"city": "Paris"}},
    ])


def test_text_answer_and_request_shape(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "Bonjour."}])
    r = create(openai_client, model="claude-test", input="Hello", instructions="Answer in French.",
               max_output_tokens=64, temperature=0.5)
    assert r.output_text == "Bonjour." and r.status == "completed"
    assert fake_anthropic.last.json() == {
        "model": "claude-sonnet-4-5", "system": [{"type": "text", "text": "Answer in French."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "max_tokens": 64, "temperature": 0.5}


def test_thinking_replays_through_encrypted_content(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    """A stateless client (store=false) that sends the output items back as input."""
    thinking_tool_turn(fake_anthropic)
    first = create(openai_client, model="claude-test", input="Weather in Paris?", tools=[WEATHER],
                   reasoning={"effort": "medium"}, max_output_tokens=12000, store=False)
    assert [o.type for o in first.output] == ["reasoning", "reasoning", "function_call"]
    assert first.output[0].summary[0].text == "I need the weather tool for Paris."
    call = first.output[2]
    fake_anthropic.queue_turn([{"type": "text", "text": "Mild, 18C."}])
    items = [{"role": "user", "content": "Weather in Paris?"},
             *[o.model_dump(exclude_none=True) for o in first.output],
             {"type": "function_call_output", "call_id": call.call_id, "output": "18C"}]
    second = create(openai_client, model="claude-test", input=items, tools=[WEATHER],
                    reasoning={"effort": "medium"}, max_output_tokens=12000, store=False)
    assert second.output_text == "Mild, 18C."
    replayed = fake_anthropic.last.json()["messages"][1]["content"]
    assert [b["type"] for b in replayed] == ["thinking", "redacted_thinking", "tool_use"]
    assert replayed[0]["thinking"] == "I need the weather tool for Paris." and replayed[0]["signature"]
    assert replayed[1]["data"] == "EmwKAhgBEgyRedacted"


def test_thinking_replays_through_previous_response_id_streaming(gateway: GatewayHandle,
                                                                 fake_anthropic: FakeAnthropic) -> None:
    thinking_tool_turn(fake_anthropic)
    events = raw_stream(gateway, model="claude-test", input="Weather in Paris?", tools=[WEATHER],
                        reasoning={"effort": "medium"}, max_output_tokens=12000)
    final = events[-1]["response"]
    assert events[-1]["type"] == "response.completed"
    assert [o["type"] for o in final["output"]] == ["reasoning", "reasoning", "function_call"]
    summary = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta")
    assert summary == "I need the weather tool for Paris."
    call = final["output"][2]
    assert (call["call_id"], call["arguments"]) == ("toolu_R1", '{"city":"Paris"}')
    fake_anthropic.queue_turn([{"type": "thinking", "thinking": "18C is mild."},
                               {"type": "text", "text": "Mild, 18C."}])
    events = raw_stream(gateway, model="claude-test", previous_response_id=final["id"], tools=[WEATHER],
                        reasoning={"effort": "medium"}, max_output_tokens=12000,
                        input=[{"type": "function_call_output", "call_id": "toolu_R1", "output": "18C"}])
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Mild, 18C."
    sent = fake_anthropic.last.json()
    assert [b["type"] for b in sent["messages"][1]["content"]] == ["thinking", "redacted_thinking", "tool_use"]
    assert sent["messages"][2]["content"][0]["type"] == "tool_result"


def test_tampered_reasoning_gets_claudes_400(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    from relayport.wire.openai_responses import seal_reasoning

    items = [{"role": "user", "content": "x"},
             {"type": "reasoning", "id": "rs_1", "summary": [],
              "encrypted_content": seal_reasoning("edited!", "EqNotTheRealOne")},
             {"role": "assistant", "content": "a"}, {"role": "user", "content": "y"}]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="claude-test", input=items, reasoning={"effort": "low"})
    assert "signature" in info.value.message
    openapi.validate_error(info.value.response.json())


def test_web_search_tool_becomes_claudes_server_tool(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "Found it."}])
    r = create(openai_client, model="claude-test", input="news?", tools=[{"type": "web_search"}])
    assert r.output_text == "Found it."
    assert {"type": "web_search_20250305", "name": "web_search"} in fake_anthropic.last.json()["tools"]


def test_cache_usage_details(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "ok"}], usage={
        "input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 90})
    r = create(openai_client, model="claude-test", input="q")
    assert r.usage.input_tokens == 400 and r.usage.output_tokens == 20
    assert r.usage.input_tokens_details.cached_tokens == 300
    assert r.usage.input_tokens_details.cache_write_tokens == 90


def test_max_tokens_stop_is_incomplete(gateway: GatewayHandle, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "cut short"}], "max_tokens")
    events = raw_stream(gateway, model="claude-test", input="q", max_output_tokens=5)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_error_event_mid_stream_fails_the_response(gateway: GatewayHandle, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "one two three"}], error_after=4)
    events = raw_stream(gateway, model="claude-test", input="q")
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert "Overloaded" in events[-2]["message"]


# ------------------------------------------------------------------ POST /v1/responses/input_tokens


def test_input_tokens_are_claudes_own_count(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    raw = openai_client.responses.input_tokens.with_raw_response.count(
        model="claude-test", instructions="Be brief.", input="How warm is Paris?", tools=[WEATHER],
        reasoning={"effort": "low"})
    openapi.validate("TokenCountsResource", orjson.loads(raw.content))
    assert "x-relayport-adjustments" not in raw.headers  # the vendor counted: no estimate
    sent = fake_anthropic.last.json()
    assert fake_anthropic.last.path == "/v1/messages/count_tokens"
    # The body a call would send, without what count_tokens refuses (max_tokens, stream...).
    assert sent["model"] == "claude-sonnet-4-5" and "max_tokens" not in sent and "stream" not in sent
    assert sent["system"][0]["text"] == "Be brief." and sent["tools"][0]["name"] == "weather"
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "How warm is Paris?"}]}]
    assert sent["thinking"]["type"] in ("enabled", "adaptive")
    # The fake counts a quarter of the JSON of system, messages and tools: the answer is its number.
    expected = len(orjson.dumps([sent.get("system"), sent["messages"], sent.get("tools")])) // 4
    assert raw.parse().input_tokens == expected and raw.parse().object == "response.input_tokens"


def test_input_tokens_count_the_previous_response(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    first = create(openai_client, model="claude-test", input="Remember the word kumquat.")
    openai_client.responses.input_tokens.count(model="claude-test", previous_response_id=first.id,
                                               input="Which word?")
    sent = fake_anthropic.last.json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][-1]["text"] == first.output_text


def test_input_tokens_vendor_error_in_openai_envelope(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    from relayport_anthropic.testing import anthropic_error

    fake_anthropic.push(anthropic_error(400, "messages: too long"))
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.responses.input_tokens.count(model="claude-test", input="x")
    openapi.validate_error(err.value.response.json())
    assert "messages: too long" in err.value.response.json()["error"]["message"]
