"""End to end: the `openai` SDK -> gateway /v1/chat/completions -> fake Anthropic Messages API.

Every response and chunk is also checked against OpenAI's published OpenAPI schema, and the
fake refuses any request the real API would refuse.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import orjson
import pytest
from anthropic_helpers import ANTHROPIC_KEY, GATEWAY_KEY, sse_data

from relayport.testing import openapi
from relayport.testing.servers import GatewayHandle
from relayport_anthropic import vocab
from relayport_anthropic.testing import FakeAnthropic, anthropic_error

TOOLS = [{"type": "function", "function": {
    "name": "weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def create(client: Any, **kwargs: Any) -> Any:
    """A non-streaming call whose raw body is checked against OpenAI's schema."""
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    openapi.validate_chat_completion(orjson.loads(raw.content))
    return raw.parse()


def stream(client: Any, **kwargs: Any) -> list[Any]:
    chunks = list(client.chat.completions.create(stream=True, **kwargs))
    for c in chunks:
        openapi.validate_chat_chunk(c.model_dump(exclude_unset=True, mode="json"))
    return chunks


def accumulate(chunks: list[Any]) -> dict[str, Any]:
    """Rebuild the assistant message an OpenAI client would keep, thinking_blocks included."""
    msg: dict[str, Any] = {"role": "assistant", "content": "", "reasoning": "", "thinking_blocks": [],
                           "tool_calls": {}, "finish": None, "usage": None}
    for c in chunks:
        if c.usage is not None:
            msg["usage"] = c.usage
        for ch in c.choices:
            d = ch.delta
            msg["content"] += d.content or ""
            extra = d.model_extra or {}
            msg["reasoning"] += extra.get("reasoning_content") or ""
            msg["thinking_blocks"] += extra.get("thinking_blocks") or []
            for tc in d.tool_calls or []:
                call = msg["tool_calls"].setdefault(tc.index, {"id": None, "type": "function",
                                                               "function": {"name": "", "arguments": ""}})
                if tc.id:
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    call["function"]["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    call["function"]["arguments"] += tc.function.arguments
            if ch.finish_reason:
                msg["finish"] = ch.finish_reason
    return msg


def test_chat_translates_and_answers(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "Bonjour."}])
    r = create(openai_client, model="claude-test", max_tokens=64, stop=["\n\n"], temperature=0.5,
               messages=[{"role": "system", "content": "Answer in French."},
                         {"role": "user", "content": "Hello"}])
    assert r.choices[0].message.content == "Bonjour."
    assert r.choices[0].finish_reason == "stop"
    sent = fake_anthropic.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY and "authorization" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json() == {"model": "claude-sonnet-4-5", "system": [{"type": "text", "text": "Answer in French."}],
                           "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
                           "max_tokens": 64, "temperature": 0.5, "stop_sequences": ["\n\n"]}


def test_max_tokens_default_is_supplied(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    create(openai_client, model="claude-test", messages=[{"role": "user", "content": "hi"}])
    assert fake_anthropic.last.json()["max_tokens"] == vocab.DEFAULT_MAX_TOKENS
    create(openai_client, model="claude-3-test", messages=[{"role": "user", "content": "hi"}])
    assert fake_anthropic.last.json()["max_tokens"] == 1500  # the model's default_max_tokens option


@pytest.mark.parametrize("stop,finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                         ("refusal", "content_filter"), ("pause_turn", "stop"),
                                         ("model_context_window_exceeded", "length")])
def test_finish_reasons_json_and_stream(openai_client: Any, fake_anthropic: FakeAnthropic, stop: str,
                                        finish: str) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "x y"}], stop)
    fake_anthropic.queue_turn([{"type": "text", "text": "x y"}], stop)
    assert create(openai_client, model="claude-test",
                  messages=[{"role": "user", "content": "q"}]).choices[0].finish_reason == finish
    msg = accumulate(stream(openai_client, model="claude-test", messages=[{"role": "user", "content": "q"}]))
    assert msg["finish"] == finish and msg["content"] == "x y"


def test_usage_with_cache_read_and_write(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    usage = {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 300,
             "cache_creation_input_tokens": 90,
             "cache_creation": {"ephemeral_5m_input_tokens": 60, "ephemeral_1h_input_tokens": 30}}
    fake_anthropic.queue_turn([{"type": "text", "text": "ok"}], usage=usage)
    raw = openai_client.chat.completions.with_raw_response.create(
        model="claude-test", messages=[{"role": "user", "content": "q"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["usage"]["prompt_tokens"] == 400
    assert body["usage"]["completion_tokens"] == 20 and body["usage"]["total_tokens"] == 420
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 300
    assert body["usage"]["cache_creation_input_tokens"] == 90
    assert body["usage"]["cache_creation"] == {"ephemeral_5m_input_tokens": 60, "ephemeral_1h_input_tokens": 30}


def test_streamed_usage_only_when_asked(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "one two"}],
                              usage={"cache_read_input_tokens": 7, "output_tokens": 5})
    chunks = stream(openai_client, model="claude-test", messages=[{"role": "user", "content": "q"}],
                    stream_options={"include_usage": True})
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])
    chunks = stream(openai_client, model="claude-test", messages=[{"role": "user", "content": "q"}])
    assert all(c.usage is None for c in chunks)


def test_stream_ends_with_done_and_has_role_first(gateway: GatewayHandle, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": "a b c"}])
    r = httpx.post(gateway.openai_base_url + "/chat/completions", headers=gateway.headers(), timeout=30,
                   json={"model": "claude-test", "stream": True, "messages": [{"role": "user", "content": "q"}]})
    datas = sse_data(r.content)
    assert datas[-1] == b"[DONE]"
    first = orjson.loads(datas[0])
    assert first["choices"][0]["delta"]["role"] == "assistant"


# ------------------------------------------------------------------- tools


def test_parallel_tool_calls_round_trip(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_01B", "name": "weather", "input": {"city": "Rome"}},
    ])
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    r = create(openai_client, model="claude-test", messages=messages, tools=TOOLS, tool_choice="required",
               parallel_tool_calls=True)
    sent = fake_anthropic.last.json()
    assert sent["tool_choice"] == {"type": "any"}
    assert sent["tools"][0]["input_schema"]["required"] == ["city"]
    m = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in m.tool_calls] == [
        ("toolu_01A", "weather", {"city": "Paris"}), ("toolu_01B", "weather", {"city": "Rome"})]
    messages.append(m.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": "toolu_01A", "content": "18C sunny"})
    messages.append({"role": "tool", "tool_call_id": "toolu_01B", "content": "21C"})
    fake_anthropic.queue_turn([{"type": "text", "text": "Rome is warmer."}])
    r2 = create(openai_client, model="claude-test", messages=messages, tools=TOOLS)
    assert r2.choices[0].message.content == "Rome is warmer."
    user_turn = fake_anthropic.last.json()["messages"][2]
    assert user_turn == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "21C"}]}


def test_streamed_tool_calls(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris, France"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
    ])
    chunks = stream(openai_client, model="claude-test", messages=[{"role": "user", "content": "q"}], tools=TOOLS,
                    tool_choice={"type": "function", "function": {"name": "weather"}}, parallel_tool_calls=False)
    assert fake_anthropic.last.json()["tool_choice"] == {"type": "tool", "name": "weather",
                                                         "disable_parallel_tool_use": True}
    msg = accumulate(chunks)
    assert msg["finish"] == "tool_calls"
    assert msg["tool_calls"][0] == {"id": "toolu_1", "type": "function",
                                    "function": {"name": "weather", "arguments": '{"city":"Paris, France"}'}}
    assert msg["tool_calls"][1]["function"] == {"name": "now", "arguments": "{}"}


# ------------------------------------------------------------------- thinking


def test_thinking_with_tools_replays_across_turns_streaming(openai_client: Any,
                                                             fake_anthropic: FakeAnthropic) -> None:
    """The most reported gateway bug: turn 2 of a thinking + tool-use conversation must send
    the signed thinking back unmodified and first, or Claude answers 400."""
    fake_anthropic.queue_turn([
        {"type": "thinking", "thinking": "I need the weather tool for Paris."},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedacted"},
        {"type": "tool_use", "id": "toolu_T1", "name": "weather", "input": {"city": "Paris"}},
    ])
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    chunks = stream(openai_client, model="claude-test", messages=messages, tools=TOOLS,
                    reasoning_effort="medium", max_tokens=12000)
    sent = fake_anthropic.last.json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8192} and sent["max_tokens"] == 12000
    assert fake_anthropic.last.headers["anthropic-beta"] == vocab.BETA_INTERLEAVED_THINKING
    msg = accumulate(chunks)
    assert msg["reasoning"] == "I need the weather tool for Paris."
    assert [b["type"] for b in msg["thinking_blocks"]] == ["thinking", "redacted_thinking"]
    messages.append({"role": "assistant", "content": None, "reasoning_content": msg["reasoning"],
                     "thinking_blocks": msg["thinking_blocks"], "tool_calls": list(msg["tool_calls"].values())})
    messages.append({"role": "tool", "tool_call_id": "toolu_T1", "content": "18C"})
    fake_anthropic.queue_turn([{"type": "thinking", "thinking": "18C is mild."},
                               {"type": "text", "text": "Mild, 18C."}])
    msg2 = accumulate(stream(openai_client, model="claude-test", messages=messages, tools=TOOLS,
                             reasoning_effort="medium", max_tokens=12000))
    assert msg2["content"] == "Mild, 18C." and msg2["reasoning"] == "18C is mild."
    replayed = fake_anthropic.last.json()["messages"][1]["content"]
    assert [b["type"] for b in replayed] == ["thinking", "redacted_thinking", "tool_use"]
    assert "thinking" in fake_anthropic.last.json()


def test_thinking_round_trip_non_streaming(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([
        {"type": "thinking", "thinking": "Use the tool."},
        {"type": "tool_use", "id": "toolu_N1", "name": "weather", "input": {"city": "Oslo"}},
    ])
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Oslo?"}]
    r = create(openai_client, model="claude-test", messages=messages, tools=TOOLS,
               extra_body={"enable_thinking": True, "thinking_budget": 2000})
    m = r.choices[0].message
    extra = m.model_extra or {}
    assert extra["reasoning_content"] == "Use the tool."
    assert extra["thinking_blocks"][0]["signature"]
    messages.append(m.model_dump(exclude_none=True))  # thinking_blocks ride along as an extra field
    messages.append({"role": "tool", "tool_call_id": "toolu_N1", "content": "-3C"})
    fake_anthropic.queue_turn([{"type": "text", "text": "Cold."}])
    r2 = create(openai_client, model="claude-test", messages=messages, tools=TOOLS,
                extra_body={"enable_thinking": True, "thinking_budget": 2000})
    assert r2.choices[0].message.content == "Cold."


def test_tampered_thinking_gets_claudes_400(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    messages = [{"role": "user", "content": "x"},
                {"role": "assistant", "content": "a", "thinking_blocks": [
                    {"type": "thinking", "thinking": "edited!", "signature": "EqNotTheRealOne"}]},
                {"role": "user", "content": "y"}]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="claude-test", messages=messages, reasoning_effort="low")
    assert "signature" in info.value.message


def test_client_that_dropped_thinking_blocks_still_gets_an_answer(openai_client: Any,
                                                                  fake_anthropic: FakeAnthropic) -> None:
    messages = [{"role": "user", "content": "Oslo?"},
                {"role": "assistant", "content": None, "reasoning_content": "Use the tool.",
                 "tool_calls": [{"id": "toolu_X", "type": "function",
                                 "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]},
                {"role": "tool", "tool_call_id": "toolu_X", "content": "-3C"}]
    fake_anthropic.queue_turn([{"type": "text", "text": "Cold."}])
    r = create(openai_client, model="claude-test", messages=messages, tools=TOOLS, reasoning_effort="high")
    assert r.choices[0].message.content == "Cold."
    assert "thinking" not in fake_anthropic.last.json()


def test_thinking_parameters(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    create(openai_client, model="claude-test", messages=[{"role": "user", "content": "q"}], temperature=0.2,
           extra_body={"thinking": {"type": "enabled", "budget_tokens": 3000}})
    sent = fake_anthropic.last.json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 3000} and "temperature" not in sent
    create(openai_client, model="claude-test", messages=[{"role": "user", "content": "q"}],
           extra_body={"enable_thinking": False})
    assert fake_anthropic.last.json()["thinking"] == {"type": "disabled"}


# ------------------------------------------------------------------- media


def test_images_and_pdfs(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    pdf = base64.b64encode(b"%PDF-1.7 tiny").decode()
    create(openai_client, model="claude-test", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Describe both, then the report."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{pdf}"}},
    ]}], extra_body={"file_urls": ["https://example.com/annex.pdf"]})
    content = fake_anthropic.last.json()["messages"][0]["content"]
    assert [b["type"] for b in content] == ["text", "image", "image", "document", "document"]
    assert content[1]["source"] == {"type": "base64", "media_type": "image/png", "data": png}
    assert content[2]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}
    assert content[3]["source"]["media_type"] == "application/pdf" and content[3]["title"] == "report.pdf"
    assert content[4]["source"] == {"type": "url", "url": "https://example.com/annex.pdf"}


@pytest.mark.parametrize("extra,word", [
    ({"videos": ["https://example.com/v.mp4"]}, "video"),
    ({"voices": ["https://example.com/a.wav"]}, "audio"),
])
def test_video_and_audio_get_a_400_that_says_so(openai_client: Any, fake_anthropic: FakeAnthropic,
                                                extra: dict, word: str) -> None:
    n = len(fake_anthropic.requests)
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "x"}],
                                              extra_body=extra)
    assert f"do not accept {word}" in info.value.message
    openapi.validate_error(orjson.loads(info.value.response.content))
    assert len(fake_anthropic.requests) == n  # refused before any vendor call


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize("status,kind,exc", [
    (400, "invalid_request_error", openai.BadRequestError),
    (401, "authentication_error", openai.AuthenticationError),
    (403, "permission_error", openai.PermissionDeniedError),
    (404, "not_found_error", openai.NotFoundError),
    (429, "rate_limit_error", openai.RateLimitError),
    (500, "api_error", openai.InternalServerError),
    (529, "overloaded_error", openai.InternalServerError),
])
def test_vendor_errors_keep_status_in_openai_envelope(openai_client: Any, fake_anthropic: FakeAnthropic,
                                                      status: int, kind: str, exc: type) -> None:
    fake_anthropic.push(anthropic_error(status, f"claude says {status}", kind, headers={"retry-after": "3"}))
    with pytest.raises(exc) as info:
        openai_client.chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "q"}])
    assert info.value.status_code == status
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["message"] == f"claude says {status}"
    assert envelope["error"]["code"] == kind
    if status in (429, 529):
        assert info.value.response.headers["retry-after"] == "3"
    assert ANTHROPIC_KEY not in info.value.response.text


def test_error_event_mid_stream_becomes_an_error_chunk(gateway: GatewayHandle, openai_client: Any,
                                                       fake_anthropic: FakeAnthropic) -> None:
    turn = [{"type": "text", "text": "one two three four"}]
    fake_anthropic.queue_turn(turn, error_after=5, error=("overloaded_error", "Overloaded"))
    with pytest.raises(openai.APIError) as info:
        for _ in openai_client.chat.completions.create(model="claude-test", stream=True,
                                                       messages=[{"role": "user", "content": "q"}]):
            pass
    assert "Overloaded" in str(info.value)
    fake_anthropic.queue_turn(turn, error_after=5, error=("overloaded_error", "Overloaded"))
    r = httpx.post(gateway.openai_base_url + "/chat/completions", headers=gateway.headers(), timeout=30,
                   json={"model": "claude-test", "stream": True, "messages": [{"role": "user", "content": "q"}]})
    assert r.status_code == 200
    datas = sse_data(r.content)
    last = orjson.loads(datas[-1])
    assert last["error"]["message"] == "Overloaded" and last["error"]["code"] == "overloaded_error"
    openapi.validate_error(last)
    text = "".join((orjson.loads(d)["choices"][0]["delta"].get("content") or "")
                   for d in datas[:-1] if orjson.loads(d).get("choices"))
    assert text == "one two three"  # what arrived before the error got through


def test_vendor_400_is_passed_on_with_claudes_message(openai_client: Any, fake_anthropic: FakeAnthropic) -> None:
    # An assistant-only conversation breaks Claude's rules; the fake answers as Claude does.
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="claude-test", messages=[
            {"role": "user", "content": "x"}, {"role": "assistant", "content": [{"type": "text", "text": "a"}],
                                               "tool_calls": [{"id": "t1", "type": "function",
                                                               "function": {"name": "weather", "arguments": "{}"}}]},
            {"role": "user", "content": "no tool result"}])
    assert "tool_result" in info.value.message


def test_gateway_key_is_required(gateway: GatewayHandle) -> None:
    client = openai.OpenAI(base_url=gateway.openai_base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "q"}])
    assert GATEWAY_KEY


# ------------------------------------------------------------------- fallback across formats


@pytest.fixture
def mixed(fake_anthropic: FakeAnthropic, fake_compat: Any) -> Any:
    """One model name, two deployments: a vendor that passes OpenAI through, down (a closed
    port), then Claude, which needs translation; and the same the other way round for
    Anthropic clients."""
    from anthropic_helpers import OpenAICompatVendor

    from relayport.testing.servers import closed_port, start_gateway

    down = f"http://127.0.0.1:{closed_port()}"
    handle = start_gateway({
        "server": {"state_path": ":memory:"},
        "auth": {"keys": [GATEWAY_KEY]},
        "models": [
            {"name": "mixed", "provider": "compat", "model": "gpt-fake", "base_url": down + "/v1",
             "api_key": "sk-x"},
            {"name": "mixed", "provider": "anthropic", "model": "claude-sonnet-4-5",
             "base_url": fake_anthropic.base_url, "api_key": ANTHROPIC_KEY},
            {"name": "mixed-back", "provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": down,
             "api_key": ANTHROPIC_KEY},
            {"name": "mixed-back", "provider": "compat", "model": "gpt-fake", "base_url": fake_compat.base_url,
             "api_key": fake_compat.api_key},
        ],
    }, env={"RELAYPORT_LOAD_PLUGINS": "anthropic,compat-vendor"},
        extra_plugins={"compat-vendor": OpenAICompatVendor()})
    yield handle
    handle.stop()


def test_fallback_from_passthrough_to_translation(mixed: Any, fake_anthropic: FakeAnthropic) -> None:
    client = openai.OpenAI(base_url=mixed.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
    fake_anthropic.queue_text("from Claude")
    r = create(client, model="mixed", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "from Claude"
    fake_anthropic.queue_text("streamed from Claude")
    chunks = stream(client, model="mixed", messages=[{"role": "user", "content": "hi"}])
    assert accumulate(chunks)["content"] == "streamed from Claude"
    assert fake_anthropic.last.path == "/v1/messages"


def test_fallback_from_anthropic_passthrough_to_an_openai_vendor(mixed: Any, fake_compat: Any) -> None:
    r = httpx.post(mixed.url + "/v1/messages", headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"},
                   json={"model": "mixed-back", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "message" and body["content"][0]["text"] == "echo: hi"
    assert fake_compat.last.path == "/v1/chat/completions"
