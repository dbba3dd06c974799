"""End to end: the `anthropic` SDK -> gateway /v1/messages -> any vendor.

A Claude model is passed through (bytes and events forwarded, the client's anthropic-version
and anthropic-beta headers along); an OpenAI-compatible model is translated both ways, its
stream re-emitted as Anthropic events. The SDK's own parsers and types check every answer.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import orjson
import pytest
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from anthropic_helpers import ANTHROPIC_KEY, GATEWAY_KEY, OPENAI_KEY, sse_events
from pydantic import TypeAdapter

from relayport.testing.fakes import FakeOpenAI, Reply
from relayport.testing.servers import GatewayHandle
from relayport_anthropic.testing import FakeAnthropic, anthropic_error

EVENT = TypeAdapter(RawMessageStreamEvent)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
TOOLS = [{"name": "weather", "description": "Current weather",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def raw_messages(gateway: GatewayHandle, body: dict[str, Any], path: str = "/v1/messages",
                 **headers: str) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, timeout=30,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01", **headers})


def check_events(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    events = sse_events(raw)
    for name, obj in events:
        assert name == obj["type"]
        if name not in ("ping", "error"):
            EVENT.validate_python(obj)
    return events


# =================================================================== translated (OpenAI-compatible vendor)


def test_message_to_an_openai_compatible_vendor(gateway: GatewayHandle, anthropic_client: Any,
                                                fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("Bonjour.", usage={"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34,
                                              "prompt_tokens_details": {"cached_tokens": 10}})
    raw = anthropic_client.messages.with_raw_response.create(
        model="compat-test", max_tokens=200, system="Answer in French.", stop_sequences=["END"],
        messages=[{"role": "user", "content": "Hello"}], extra_body={"temperature": 0.4})
    SDKMessage.model_validate(orjson.loads(raw.http_response.content))
    msg = raw.parse()
    assert msg.content[0].text == "Bonjour." and msg.stop_reason == "end_turn" and msg.model == "compat-test"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (20, 10, 4)
    sent = fake_compat.last
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}" and "x-api-key" not in sent.headers
    assert sent.json() == {"model": "gpt-fake", "max_tokens": 200, "temperature": 0.4, "stop": ["END"],
                           "messages": [{"role": "system", "content": "Answer in French."},
                                        {"role": "user", "content": "Hello"}]}


def test_stream_to_an_openai_compatible_vendor(anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("streamed words in order", reasoning="think first")
    with anthropic_client.messages.stream(model="compat-test", max_tokens=100,
                                          messages=[{"role": "user", "content": "go"}]) as s:
        texts = list(s.text_stream)
        msg = s.get_final_message()
    assert "".join(texts) == "streamed words in order"
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "think first"
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens == 7 and msg.usage.input_tokens == 12
    assert fake_compat.last.json()["stream_options"] == {"include_usage": True}


def test_raw_translated_stream_events_are_valid(gateway: GatewayHandle, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("a b", tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}])
    r = raw_messages(gateway, {"model": "compat-test", "max_tokens": 50, "stream": True, "tools": TOOLS,
                               "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = check_events(r.content)
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert [o["index"] for n, o in events if n == "content_block_start"] == [0, 1]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_tools_round_trip_through_an_openai_vendor(anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("", tool_calls=[
        {"id": "call_A", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_B", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}])
    messages: list[Any] = [{"role": "user", "content": "Paris and Rome?"}]
    msg = anthropic_client.messages.create(model="compat-test", max_tokens=100, tools=TOOLS, messages=messages,
                                           tool_choice={"type": "any", "disable_parallel_tool_use": False})
    sent = fake_compat.last.json()
    assert sent["tool_choice"] == "required"
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "Current weather", "parameters": TOOLS[0]["input_schema"]}}]
    assert msg.stop_reason == "tool_use"
    assert [(b.id, b.input) for b in msg.content] == [("call_A", {"city": "Paris"}), ("call_B", {"city": "Rome"})]
    messages.append({"role": "assistant", "content": msg.content})
    messages.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_A", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "call_B", "content": [{"type": "text", "text": "21C"}]},
        {"type": "text", "text": "Which is warmer?"}]})
    fake_compat.queue_text("Rome.")
    with anthropic_client.messages.stream(model="compat-test", max_tokens=100, tools=TOOLS, messages=messages) as s:
        final = s.get_final_message()
    assert final.content[0].text == "Rome."
    sent = fake_compat.last.json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    assert sent[1]["tool_calls"][1] == {"id": "call_B", "type": "function",
                                        "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_B", "content": "21C"}


def test_streamed_tool_calls_from_an_openai_vendor(anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("Let me look.", tool_calls=[
        {"id": "call_S", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
        {"id": "call_T", "type": "function", "function": {"name": "weather", "arguments": ""}}])
    with anthropic_client.messages.stream(model="compat-test", max_tokens=100, tools=TOOLS,
                                          messages=[{"role": "user", "content": "x"}]) as s:
        msg = s.get_final_message()
    assert [b.type for b in msg.content] == ["text", "tool_use", "tool_use"]
    assert msg.content[1].input == {"city": "Oslo"} and msg.content[2].input == {}
    assert msg.stop_reason == "tool_use"


def test_images_reach_an_openai_vendor(anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    anthropic_client.messages.create(model="compat-test", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "text", "text": "what are these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}])
    parts = fake_compat.last.json()["messages"][0]["content"]
    assert parts == [{"type": "text", "text": "what are these?"},
                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                     {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]


def test_thinking_request_to_an_openai_vendor(anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("42", reasoning="6*7")
    msg = anthropic_client.messages.create(model="compat-test", max_tokens=4000,
                                           thinking={"type": "enabled", "budget_tokens": 2000},
                                           output_config={"effort": "high"},
                                           messages=[{"role": "user", "content": "6*7?"}])
    assert [b.type for b in msg.content] == ["thinking", "text"] and msg.content[0].thinking == "6*7"
    assert fake_compat.last.json()["reasoning_effort"] == "high"


@pytest.mark.parametrize("status,exc,kind", [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
])
def test_vendor_errors_in_the_anthropic_envelope(anthropic_client: Any, fake_compat: FakeOpenAI, status: int,
                                                 exc: type, kind: str) -> None:
    fake_compat.push(fake_compat.error_reply(status, f"vendor says {status}"))
    with pytest.raises(exc) as info:
        anthropic_client.messages.create(model="compat-test", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    body = orjson.loads(info.value.response.content)
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert "vendor says" in body["error"]["message"]


def test_vendor_stream_failing_midway_is_an_error_event(anthropic_client: Any, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text("one two three four five", drop_after=3)
    with pytest.raises(anthropic.APIStatusError) as info, anthropic_client.messages.stream(
            model="compat-test", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        for _ in s:
            pass
    assert info.value.body["error"]["type"] == "api_error"


# =================================================================== surface-level behaviour


def test_unknown_model_is_a_not_found_error(anthropic_client: Any) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        anthropic_client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "not_found_error"


def test_missing_max_tokens_and_bad_json(gateway: GatewayHandle) -> None:
    r = raw_messages(gateway, {"model": "compat-test", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400
    assert r.json() == {"type": "error", "request_id": None, "error": {
        "type": "invalid_request_error", "message": "Missing required parameter: 'max_tokens'."}}
    r = httpx.post(gateway.url + "/v1/messages", content=b"{nope", headers={"x-api-key": GATEWAY_KEY}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_auth_by_x_api_key_or_bearer(gateway: GatewayHandle) -> None:
    wrong = anthropic.Anthropic(base_url=gateway.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        wrong.messages.create(model="compat-test", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "authentication_error"
    bearer = anthropic.Anthropic(base_url=gateway.url, auth_token=GATEWAY_KEY, max_retries=0)
    msg = bearer.messages.create(model="compat-test", max_tokens=10, messages=[{"role": "user", "content": "hey"}])
    assert msg.content[0].text == "echo: hey"


def test_wrong_method_is_an_anthropic_error(gateway: GatewayHandle) -> None:
    import httpx

    r = httpx.get(gateway.url + "/v1/messages", headers={"x-api-key": GATEWAY_KEY})
    assert r.status_code == 405
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


# =================================================================== passthrough (Claude)


def test_passthrough_forwards_bytes_and_client_headers(gateway: GatewayHandle, anthropic_client: Any,
                                                       fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "Hi from Claude."}])
    raw = anthropic_client.messages.with_raw_response.create(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "context-1m-2025-08-07", "anthropic-version": "2099-01-01"},
        extra_body={"top_k": 5, "service_tier": "standard_only"})
    msg = raw.parse()
    assert msg.content[0].text == "Hi from Claude." and msg.id == "msg_fake0001"
    sent = fake_anthropic.last
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY  # the vendor key, never the gateway's
    assert GATEWAY_KEY not in orjson.dumps(sent.headers).decode()
    assert sent.headers["anthropic-version"] == "2099-01-01"
    assert sent.headers["anthropic-beta"] == "context-1m-2025-08-07"
    body = sent.json()
    assert body["model"] == "claude-sonnet-4-5" and body["top_k"] == 5 and body["service_tier"] == "standard_only"
    # The vendor's body comes back as the vendor sent it.
    expected = fake_anthropic._message(body, {"content": [{"type": "text", "text": "Hi from Claude."}],
                                              "stop_reason": "end_turn", "usage": None})
    assert orjson.loads(raw.http_response.content) == expected


def test_passthrough_stream_events_are_forwarded(gateway: GatewayHandle, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "thinking", "thinking": "hmm ok"}, {"type": "text", "text": "a b c"}])
    body = {"model": "claude-test", "max_tokens": 3000, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "x"}]}
    r = raw_messages(gateway, body)
    turn = {"content": [{"type": "thinking", "thinking": "hmm ok"}, {"type": "text", "text": "a b c"}],
            "stop_reason": "end_turn", "usage": None, "error_after": None, "delay": 0.0, "drop_after": None}
    from relayport_anthropic.testing import sign
    turn["content"][0]["signature"] = sign("hmm ok")
    expected = fake_anthropic._stream({**body, "model": "claude-sonnet-4-5"}, turn).events
    assert r.content == b"".join(expected or [])
    check_events(r.content)


def test_passthrough_thinking_and_tools_multi_turn(anthropic_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "thinking", "thinking": "Need weather."},
                               {"type": "tool_use", "id": "toolu_P", "name": "weather", "input": {"city": "Lima"}}])
    messages: list[Any] = [{"role": "user", "content": "Lima?"}]
    kwargs: dict[str, Any] = dict(model="claude-test", max_tokens=4000, tools=TOOLS,
                                  thinking={"type": "enabled", "budget_tokens": 2000})
    with anthropic_client.messages.stream(messages=messages, **kwargs) as s:
        first = s.get_final_message()
    assert first.content[0].type == "thinking" and first.stop_reason == "tool_use"
    messages.append(first.to_param())
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_P", "content": "20C"}]})
    fake_anthropic.queue_turn([{"type": "text", "text": "Warm."}])
    second = anthropic_client.messages.create(messages=messages, **kwargs)
    assert second.content[0].text == "Warm."


def test_passthrough_vendor_errors_keep_anthropic_types(anthropic_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(anthropic_error(529, "Overloaded"))
    with pytest.raises(anthropic.InternalServerError) as info:
        anthropic_client.messages.create(model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"
    fake_anthropic.push(anthropic_error(429, "Slow down", headers={"retry-after": "12"}))
    with pytest.raises(anthropic.RateLimitError) as info2:
        anthropic_client.messages.create(model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info2.value.response.headers["retry-after"] == "12"
    with pytest.raises(anthropic.BadRequestError) as info3:  # Claude's own validation, passed on
        anthropic_client.messages.create(model="claude-test", max_tokens=10,
                                         messages=[{"role": "user", "content": "x"}, {"role": "user", "content": "y"}])
    assert "alternate" in info3.value.body["error"]["message"]


def test_passthrough_error_event_mid_stream(anthropic_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "one two three"}], error_after=4)
    with pytest.raises(anthropic.APIStatusError) as info, anthropic_client.messages.stream(
            model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        for _ in s:
            pass
    assert info.value.body["error"]["type"] == "overloaded_error"


def test_passthrough_error_event_before_any_output(anthropic_client: Any, fake_anthropic: FakeAnthropic) -> None:
    """An `error` event as the stream's first event (HTTP 200, nothing generated): the call
    fails with the error's status before the client's first byte (Anthropic's SDKs retry 529),
    not a 200 stream holding it."""
    fake_anthropic.queue_turn([{"type": "text", "text": "never sent"}], error_after=0)
    with pytest.raises(anthropic.InternalServerError) as info, anthropic_client.messages.stream(
            model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        for _ in s:
            pass
    assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"
    assert "Overloaded" in info.value.body["error"]["message"]


def test_passthrough_count_tokens(anthropic_client: Any, fake_anthropic: FakeAnthropic) -> None:
    result = anthropic_client.messages.count_tokens(model="claude-test", system="s", tools=TOOLS,
                                                    messages=[{"role": "user", "content": "how many?"}])
    assert result.input_tokens > 0
    assert fake_anthropic.last.path == "/v1/messages/count_tokens"
    assert fake_anthropic.last.json()["model"] == "claude-sonnet-4-5"


def test_models_in_anthropic_format(anthropic_client: Any, openai_client: Any) -> None:
    """`GET /v1/models` is shared with OpenAI: the Anthropic SDK gets Anthropic's format."""
    page = anthropic_client.models.list()
    assert [m.id for m in page.data] == ["claude-test", "claude-3-test", "compat-test"]
    assert page.data[0].type == "model" and page.has_more is False
    assert anthropic_client.models.retrieve("compat-test").display_name == "compat-test"
    with pytest.raises(anthropic.NotFoundError) as info:
        anthropic_client.models.retrieve("no-such-model")
    assert info.value.body["type"] == "error"  # Anthropic's envelope
    # The OpenAI SDK on the same path still gets OpenAI's list.
    assert [m.id for m in openai_client.models.list().data][:1] == ["claude-test"]


def test_the_vendors_request_id_reaches_the_anthropic_sdk(anthropic_client: Any, fake_anthropic: FakeAnthropic,
                                                          fake_compat: FakeOpenAI) -> None:
    # Claude passed through: its own `request-id`, where the SDK reads it.
    raw = anthropic_client.messages.with_raw_response.create(
        model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert raw.headers["request-id"] == "req_fake0001" and raw.request_id == "req_fake0001"
    assert raw.headers["x-upstream-request-id"] == "req_fake0001"
    assert raw.headers["x-request-id"] != "req_fake0001"  # the gateway's own call id
    # An OpenAI-compatible vendor's `x-request-id`, translated: named `request-id` too.
    fake_compat.push(Reply.json({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                                 "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                              "message": {"role": "assistant", "content": "hi"}}]},
                                headers={"x-request-id": "req_compat_7"}))
    raw = anthropic_client.messages.with_raw_response.create(
        model="compat-test", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert raw.request_id == "req_compat_7" and raw.headers["x-upstream-request-id"] == "req_compat_7"
