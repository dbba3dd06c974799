"""A model served only through a vendor's Responses API (OpenAI's codex models), reached from
the Chat Completions surface (and Anthropic Messages) by translation.

The fake OpenAI answers `/v1/responses` like the real API and refuses reasoning items whose
`encrypted_content` was not the one it issued.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.fakes import FakeOpenAI

KEY = "sk-gw-codex"
TOOLS = [{"type": "function", "function": {
    "name": "weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture
def gw(relayport_gateway, fake_openai: FakeOpenAI):
    return relayport_gateway({"auth": {"keys": [KEY]}, "models": [
        {"name": "codex-test", "provider": "openai", "model": "gpt-5-codex", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key, "options": {"api": "responses"}}]}, env={})


@pytest.fixture
def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=KEY, max_retries=0)


def test_chat_completion_from_a_responses_only_model(client, fake_openai) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="codex-test", max_tokens=200, temperature=0.3,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}])
    openapi.validate_chat_completion(orjson.loads(raw.content))
    c = raw.parse()
    assert c.choices[0].message.content == "echo: hello" and c.choices[0].finish_reason == "stop"
    assert c.usage.prompt_tokens == 9 and c.usage.completion_tokens == 3
    sent = fake_openai.last
    assert sent.path == "/v1/responses"
    assert sent.json() == {
        "model": "gpt-5-codex", "store": False, "include": ["reasoning.encrypted_content"],
        "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
        "max_output_tokens": 200, "temperature": 0.3}


def test_chat_stream_from_a_responses_only_model(client) -> None:
    chunks = list(client.chat.completions.create(model="codex-test", messages=[{"role": "user", "content": "a b c"}],
                                                 stream=True, stream_options={"include_usage": True}))
    for ch in chunks:
        openapi.validate_chat_chunk(ch.model_dump(mode="json", exclude_unset=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "echo: a b c"
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.total_tokens == 12


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_with_reasoning_replay(client, fake_openai, stream: bool) -> None:
    fake_openai.queue_text("", reasoning="Check the weather.", tool_calls=[
        {"id": "call_c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Bern"}'}}])
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Bern?"}]
    if stream:
        chunks = list(client.chat.completions.create(model="codex-test", messages=messages, tools=TOOLS,
                                                     reasoning_effort="high", stream=True))
        blocks = [b for ch in chunks if ch.choices for b in (ch.choices[0].delta.model_extra or {}).get(
            "thinking_blocks") or ()]
        calls: dict[int, dict[str, Any]] = {}
        for ch in chunks:
            for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                call = calls.setdefault(tc.index, {"id": tc.id, "type": "function",
                                                   "function": {"name": tc.function.name, "arguments": ""}})
                call["function"]["arguments"] += tc.function.arguments or ""
        assistant = {"role": "assistant", "content": None, "thinking_blocks": blocks, "tool_calls": list(calls.values())}
        finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    else:
        c = client.chat.completions.create(model="codex-test", messages=messages, tools=TOOLS, reasoning_effort="high")
        assistant = c.choices[0].message.model_dump(exclude_none=True)
        finish = [c.choices[0].finish_reason]
    assert finish == ["tool_calls"]
    assert assistant["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Bern"}'}
    first = fake_openai.last.json()
    assert first["reasoning"] == {"effort": "high", "summary": "auto"}
    assert first["tools"] == [{"type": "function", "name": "weather", "description": "Current weather",
                               "parameters": TOOLS[0]["function"]["parameters"], "strict": False}]
    messages += [assistant, {"role": "tool", "tool_call_id": "call_c1", "content": "4C"}]
    fake_openai.queue_text("Cold: 4C.")
    c2 = client.chat.completions.create(model="codex-test", messages=messages, tools=TOOLS, reasoning_effort="high")
    assert c2.choices[0].message.content == "Cold: 4C."
    # The fake checked the reasoning item's encrypted_content; here is the order it got.
    items = fake_openai.last.json()["input"]
    assert [i["type"] for i in items] == ["message", "reasoning", "function_call", "function_call_output"]
    assert items[1]["encrypted_content"] == "enc:Check the weather." and items[1]["id"].startswith("rs_fake")
    assert items[3] == {"type": "function_call_output", "call_id": "call_c1", "output": "4C"}


def test_incomplete_is_length(client, fake_openai) -> None:
    fake_openai.queue_text("cut", finish_reason="length")
    c = client.chat.completions.create(model="codex-test", messages=[{"role": "user", "content": "x"}])
    assert c.choices[0].finish_reason == "length"


def test_messages_client_reaches_a_responses_only_model(gw, fake_openai) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0)
    msg = client.messages.create(model="codex-test", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text == "echo: hi" and msg.stop_reason == "end_turn"
    assert fake_openai.last.path == "/v1/responses"
    with client.messages.stream(model="codex-test", max_tokens=100,
                                messages=[{"role": "user", "content": "streamed hi"}]) as s:
        assert s.get_final_text() == "echo: streamed hi"


@pytest.mark.parametrize(("events", "status", "message"), [
    # The Response fails before any output, with its error's code.
    ([{"type": "response.failed", "response": {"id": "resp_1", "status": "failed", "error": {
        "code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-5-codex."}}}],
     429, "Rate limit reached for gpt-5-codex."),
    # A bare `error` event (the Responses API's own), with a code that names no status.
    ([{"type": "error", "code": "server_error", "message": "The server had an error.", "param": None}],
     502, "The server had an error."),
])
def test_a_responses_stream_that_fails_before_any_output(client, fake_openai, events, status, message) -> None:
    """The vendor's Response fails after `response.created` but before any text, in the first
    read: the chat client gets the error's status before its stream starts, in OpenAI's
    envelope, as for any error an attempt ends with (a fallback would answer instead)."""
    from relayport.testing.fakes import Reply

    created = {"type": "response.created", "response": {"id": "resp_1", "object": "response", "created_at": 1,
                                                        "model": "gpt-5-codex", "status": "in_progress",
                                                        "output": [], "error": None}}
    fake_openai.push(Reply.sse([b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in [created, *events])]))
    with pytest.raises(openai.APIStatusError) as caught:
        list(client.chat.completions.create(model="codex-test", messages=[{"role": "user", "content": "hi"}],
                                            stream=True))
    assert caught.value.status_code == status
    assert caught.value.body["message"] == f"The vendor's stream failed: {message}"
