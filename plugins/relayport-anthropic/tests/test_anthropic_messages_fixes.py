"""What Anthropic clients hit on `/v1/messages` (issue 7, items 3, 7 and 8), through the gateway.

- A conversation that moves to Claude from another vendor carries thinking blocks Claude cannot
  verify (the gateway's own `"signature": ""`); they are dropped instead of failing every turn.
- `count_tokens` answers for every model (a local estimate where the vendor cannot count).
- A translated stream's `message_start` carries what is known of the input, `message_delta` the
  vendor's true count.
- A Claude stream that breaks off ends with Anthropic's `event: error`, which the SDK raises.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest
from anthropic_helpers import GATEWAY_KEY, sse_events

from relayport.model.http import ADJUSTMENTS_HEADER
from relayport.testing.fakes import FakeOpenAI
from relayport.testing.servers import GatewayHandle
from relayport_anthropic.testing import FakeAnthropic, sign

TOOLS = [{"name": "weather", "description": "Current weather",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def post(gateway: GatewayHandle, body: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, timeout=30,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"})


# =================================================================== item 3: unverifiable thinking


def test_a_deepseek_turn_replayed_to_claude_loses_only_its_unsigned_thinking(
        anthropic_client: Any, fake_anthropic: FakeAnthropic, fake_compat: FakeOpenAI) -> None:
    # The user talks to a non-Claude model first (its reasoning comes back as a thinking block
    # the gateway could not sign), then switches the conversation to Claude.
    fake_compat.queue_text("Four.", reasoning="2+2 is 4")
    messages: list[Any] = [{"role": "user", "content": "2+2?"}]
    with anthropic_client.messages.stream(model="compat-test", max_tokens=100, messages=messages) as s:
        first = s.get_final_message()
    assert first.content[0].type == "thinking" and first.content[0].signature == ""
    messages += [first.to_param(), {"role": "user", "content": "And 3+3?"}]
    raw = anthropic_client.messages.with_raw_response.create(model="claude-test", max_tokens=100, messages=messages)
    assert raw.parse().content[0].text == "echo: And 3+3?"
    sent = fake_anthropic.last.json()["messages"]
    assert sent[1] == {"role": "assistant", "content": [{"type": "text", "text": "Four."}]}
    assert "dropped unverifiable thinking blocks" in raw.headers[ADJUSTMENTS_HEADER]


def test_signed_thinking_still_goes_to_claude_unchanged(anthropic_client: Any, fake_anthropic: FakeAnthropic) -> None:
    signed = {"type": "thinking", "thinking": "mine", "signature": sign("mine")}
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": [signed, {"type": "text", "text": "a"}]},
                {"role": "user", "content": "q2"}]
    raw = anthropic_client.messages.with_raw_response.create(model="claude-test", max_tokens=100, messages=messages)
    assert raw.parse().content[0].text == "echo: q2"
    assert fake_anthropic.last.json()["messages"][1]["content"][0] == signed
    assert ADJUSTMENTS_HEADER not in raw.headers


def test_unverifiable_thinking_in_a_tool_loop_turns_thinking_off_for_that_call(
        gateway: GatewayHandle, fake_anthropic: FakeAnthropic) -> None:
    # Claude demands that the tool-use turn in progress start with a thinking block when
    # thinking is on; with the unsigned one gone, the call is answered without thinking.
    body = {"model": "claude-test", "max_tokens": 4000, "tools": TOOLS,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "Lima?"},
                         {"role": "assistant", "content": [
                             {"type": "thinking", "thinking": "need weather", "signature": ""},
                             {"type": "redacted_thinking", "data": ""},
                             {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Lima"}}]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                       "content": "20C"}]}]}
    fake_anthropic.queue_turn([{"type": "text", "text": "Warm."}])
    r = post(gateway, body)
    assert r.status_code == 200, r.text
    assert r.json()["content"] == [{"type": "text", "text": "Warm."}]
    sent = fake_anthropic.last.json()
    assert "thinking" not in sent
    assert sent["messages"][1]["content"] == [{"type": "tool_use", "id": "toolu_1", "name": "weather",
                                               "input": {"city": "Lima"}}]
    assert r.headers[ADJUSTMENTS_HEADER] == ("dropped unverifiable thinking blocks, "
                                             "thinking off for a tool loop without signed thinking")


def test_an_assistant_turn_left_empty_is_removed_and_its_neighbours_joined(
        gateway: GatewayHandle, fake_anthropic: FakeAnthropic) -> None:
    body = {"model": "claude-test", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "one"},
                         {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": ""}]},
                         {"role": "user", "content": [{"type": "text", "text": "two"}]}]}
    r = post(gateway, body)
    assert r.status_code == 200
    assert sse_events(r.content)[-1][0] == "message_stop"
    assert fake_anthropic.last.json()["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}]


# =================================================================== item 7: count_tokens, message_start


def test_count_tokens_for_a_vendor_without_an_endpoint_is_a_local_estimate(
        gateway: GatewayHandle, anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    text = "word " * 400  # 2000 characters
    raw = anthropic_client.messages.with_raw_response.count_tokens(
        model="compat-test", system="Be brief.", messages=[{"role": "user", "content": text}])
    counted = raw.parse().input_tokens
    assert 500 <= counted <= 520  # chars/4 plus a few tokens of framing per message
    assert raw.headers[ADJUSTMENTS_HEADER] == "token count estimated locally"
    assert fake_compat.requests == []  # nothing was sent to the vendor
    more = anthropic_client.messages.count_tokens(model="compat-test", tools=TOOLS,
                                                  messages=[{"role": "user", "content": text}])
    assert more.input_tokens > counted - 5  # tool definitions count too


def test_count_tokens_checks_the_request_like_messages_does(gateway: GatewayHandle) -> None:
    r = post(gateway, {"model": "compat-test", "messages": "nope"}, "/v1/messages/count_tokens")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = post(gateway, {"model": "no-such-model", "messages": []}, "/v1/messages/count_tokens")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_translated_stream_reports_known_input_at_start_and_the_true_count_at_the_end(
        gateway: GatewayHandle, anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("ok", usage={"prompt_tokens": 640, "completion_tokens": 3, "total_tokens": 643,
                                        "prompt_tokens_details": {"cached_tokens": 40}})
    r = post(gateway, {"model": "compat-test", "max_tokens": 50, "stream": True,
                       "messages": [{"role": "user", "content": "x" * 2400}]})
    events = sse_events(r.content)
    start = events[0][1]["message"]["usage"]
    assert start["input_tokens"] > 500  # the estimate, not 0
    delta = [o for n, o in events if n == "message_delta"][0]["usage"]
    assert delta == {"input_tokens": 600, "output_tokens": 3, "cache_creation_input_tokens": 0,
                     "cache_read_input_tokens": 40}
    # The SDK's accumulated message ends with the vendor's numbers.
    fake_compat.queue_text("ok", usage={"prompt_tokens": 640, "completion_tokens": 3, "total_tokens": 643})
    with anthropic_client.messages.stream(model="compat-test", max_tokens=50,
                                          messages=[{"role": "user", "content": "x" * 2400}]) as s:
        final = s.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (640, 3)


# =================================================================== item 8: broken Claude streams


def test_a_claude_stream_that_breaks_off_ends_with_an_anthropic_error_event(
        gateway: GatewayHandle, anthropic_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "one two three four"}], drop_after=4)
    r = post(gateway, {"model": "claude-test", "max_tokens": 50, "stream": True,
                       "messages": [{"role": "user", "content": "x"}]})
    name, obj = sse_events(r.content)[-1]
    assert name == "error" and obj["type"] == "error" and obj["error"]["type"] == "api_error"
    assert b"\ndata: {\"error\"" not in r.content and not r.content.startswith(b"data: {\"error\"")
    fake_anthropic.queue_turn([{"type": "text", "text": "one two three four"}], drop_after=4)
    with pytest.raises(anthropic.APIStatusError) as info, anthropic_client.messages.stream(
            model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "x"}]) as s:
        for _ in s:
            pass
    assert info.value.body["error"]["type"] == "api_error"
