"""Kimi through the gateway with the official openai SDK: what a client sees and what Kimi gets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from moonshot_helpers import GATEWAY_KEY, MODELS, VENDOR_KEY, start_gateway_for

from relayport.testing import openapi
from relayport.testing.chat import stream_chat
from relayport.testing.chat import text_of as _text
from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import Reply
from relayport.testing.servers import GatewayHandle
from relayport_moonshot.testing import SEARCH_ARGUMENTS, FakeMoonshot, kimi_error

SEED = json.loads((Path(__file__).parent / "data" / "seed003_kimi.json").read_text())


@pytest.fixture
def fake() -> Iterator[FakeMoonshot]:
    server = FakeMoonshot(api_key=VENDOR_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(fake: FakeMoonshot) -> Iterator[GatewayHandle]:
    handle = start_gateway_for([{"name": name, "provider": "moonshot", "model": model,
                                 "base_url": fake.base_url, "api_key": VENDOR_KEY}
                                for name, model in MODELS.items()])
    yield handle
    handle.stop()


@pytest.fixture
def client(gateway: GatewayHandle) -> Any:
    return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


class TestMoonshotConformance(ProviderConformance):
    provider = "moonshot"
    entry_point = "moonshot"
    model = "kimi-k2.6"

    def make_fake(self) -> FakeMoonshot:
        return FakeMoonshot()


def _raw_stream(gateway: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    stream = stream_chat(gateway, body, GATEWAY_KEY)
    return stream.chunks


# ----------------------------------------------------------------------------- thinking and usage


def test_thinking_answer_validates_with_reasoning_and_cache_hits(fake: FakeMoonshot, client: Any) -> None:
    fake.queue_text("RAG 检索外部知识。", reasoning="先区分两者。", usage=fake.usage(100, 20, cached=64))
    raw = client.chat.completions.with_raw_response.create(
        model="kimi", messages=[{"role": "user", "content": "区别?"}], extra_body={"enable_thinking": True})
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)  # Kimi omits refusal/logprobs: filled in
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "先区分两者。" and message["content"] == "RAG 检索外部知识。"
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 64
    assert body["usage"]["cached_tokens"] == 64  # Kimi's own field stays
    sent = fake.last.json()
    assert sent["model"] == "kimi-k2.6" and sent["thinking"] == {"type": "enabled"}
    assert "enable_thinking" not in sent


def test_stream_usage_from_inside_the_choice_becomes_openais_usage_chunk(fake: FakeMoonshot, gateway: Any) -> None:
    fake.queue_text("the answer", reasoning="step one step two", usage=fake.usage(50, 9, cached=32))
    request = {"model": "kimi", "stream": True, "stream_options": {"include_usage": True},
               "messages": [{"role": "user", "content": "q"}]}
    chunks = _raw_stream(gateway, request)
    assert _text(chunks, "reasoning_content") == "step one step two" and _text(chunks) == "the answer"
    assert not any("usage" in c for ch in chunks for c in ch["choices"])
    assert [c for c in chunks if c.get("usage")] == [chunks[-1]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 32
    assert chunks[-1]["usage"]["total_tokens"] == 59
    fake.queue_text("again")
    chunks = _raw_stream(gateway, {**request, "stream_options": None})
    assert _text(chunks) == "again" and not any(c.get("usage") for c in chunks)


def test_thinking_switch_per_model(fake: FakeMoonshot, client: Any) -> None:
    client.chat.completions.create(model="kimi", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"enable_thinking": False})
    assert fake.last.json()["thinking"] == {"type": "disabled"}
    raw = client.chat.completions.with_raw_response.create(
        model="kimi-thinking", messages=[{"role": "user", "content": "hi"}], extra_body={"enable_thinking": False})
    assert "thinking" not in fake.last.json()
    assert raw.headers["x-relayport-adjustments"] == "thinking kept on: kimi-k2-thinking always thinks"
    raw = client.chat.completions.with_raw_response.create(
        model="moonshot-8k", messages=[{"role": "user", "content": "hi"}], extra_body={"enable_thinking": True})
    assert "thinking" not in fake.last.json()
    assert raw.headers["x-relayport-adjustments"] == "thinking dropped: moonshot-v1-8k does not think"
    raw = client.chat.completions.with_raw_response.create(
        model="kimi", messages=[{"role": "user", "content": "hi"}], reasoning_effort="high")
    sent = fake.last.json()
    assert sent["thinking"] == {"type": "enabled"} and "reasoning_effort" not in sent
    assert raw.headers["x-relayport-adjustments"] == "reasoning_effort sent as thinking.type"


# ----------------------------------------------------------------------------- tools


WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def test_tool_call_history_of_a_thinking_turn_gets_its_reasoning_placeholder(fake: FakeMoonshot, client: Any) -> None:
    fake.queue_text("", tool_calls=[{"id": "call_1", "type": "function",
                                     "function": {"name": "weather", "arguments": '{"city":"北京"}'}}])
    first = client.chat.completions.create(model="kimi", tools=[WEATHER],
                                           messages=[{"role": "user", "content": "北京天气"}])
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "weather" and first.choices[0].finish_reason == "tool_calls"
    # The client replays the turn the usual OpenAI way: without the reasoning Kimi requires.
    history = [{"role": "user", "content": "北京天气"},
               {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
               {"role": "tool", "tool_call_id": call.id, "content": "晴"}]
    fake.queue_text("北京晴。")
    raw = client.chat.completions.with_raw_response.create(model="kimi", tools=[WEATHER], messages=history)
    assert raw.parse().choices[0].message.content == "北京晴。"
    assert fake.last.json()["messages"][1]["reasoning_content"] == " "
    assert raw.headers["x-relayport-adjustments"] == "reasoning_content placeholder added to earlier tool calls"


def test_streamed_tool_call(fake: FakeMoonshot, gateway: Any) -> None:
    fake.queue_text("", tool_calls=[{"id": "call_9", "type": "function",
                                     "function": {"name": "weather", "arguments": '{"city":"上海"}'}}])
    chunks = _raw_stream(gateway, {"model": "kimi", "stream": True, "tools": [WEATHER],
                                   "messages": [{"role": "user", "content": "上海天气"}]})
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0]["id"] == "call_9" and "".join(tc["function"].get("arguments") or "" for tc in calls) == '{"city":"上海"}'
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] \
        == ["tool_calls"]


def test_tool_choice_required_is_sent_as_auto(fake: FakeMoonshot, client: Any) -> None:
    fake.queue_text("", tool_calls=[{"id": "call_2", "type": "function",
                                     "function": {"name": "weather", "arguments": "{}"}}])
    raw = client.chat.completions.with_raw_response.create(
        model="kimi", tools=[WEATHER], tool_choice="required", messages=[{"role": "user", "content": "天气"}])
    assert raw.parse().choices[0].finish_reason == "tool_calls"
    assert fake.last.json()["tool_choice"] == "auto"
    assert raw.headers["x-relayport-adjustments"] == "tool_choice required sent as auto: Kimi has no required"


def test_partial_mode_flag_reaches_kimi(fake: FakeMoonshot, client: Any) -> None:
    fake.queue_text("月光。")
    done = client.chat.completions.create(model="kimi", messages=[
        {"role": "user", "content": "续写"}, {"role": "assistant", "content": "床前明", "partial": True}])
    assert done.choices[0].message.content == "月光。"
    assert fake.last.json()["messages"][-1] == {"role": "assistant", "content": "床前明", "partial": True}


# ----------------------------------------------------------------------------- search


def test_enable_search_is_the_web_search_tool_and_turns_thinking_off(fake: FakeMoonshot, client: Any) -> None:
    ask = [{"role": "user", "content": "今天的新闻"}]
    raw = client.chat.completions.with_raw_response.create(
        model="kimi", messages=ask, extra_body={"enable_search": True, "enable_thinking": True})
    sent = fake.last.json()
    assert sent["tools"] == [{"type": "builtin_function", "function": {"name": "$web_search"}}]
    assert sent["thinking"] == {"type": "disabled"} and "enable_search" not in sent
    assert raw.headers["x-relayport-adjustments"] == "thinking disabled: Kimi searches without thinking"
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)  # Kimi's "builtin_function" call is a function call to clients
    call = raw.parse().choices[0].message.tool_calls[0]
    assert call.function.name == "$web_search" and call.function.arguments == SEARCH_ARGUMENTS
    # Kimi's protocol: the client sends the arguments back as the tool's result, then gets the answer.
    fake.queue_text("今天的新闻是……")
    done = client.chat.completions.create(model="kimi", extra_body={"enable_search": True}, messages=[
        *ask, raw.parse().choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "name": "$web_search", "content": call.function.arguments}])
    assert done.choices[0].message.content == "今天的新闻是……"


def test_search_tool_call_streams_as_a_function_call(fake: FakeMoonshot, gateway: Any) -> None:
    chunks = _raw_stream(gateway, {"model": "kimi", "stream": True, "enable_search": True,
                                   "messages": [{"role": "user", "content": "新闻"}]})
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0]["type"] == "function" and calls[0]["function"]["name"] == "$web_search"


# ----------------------------------------------------------------------------- media


def test_media_arrays_reach_a_vision_model(fake: FakeMoonshot, client: Any) -> None:
    client.chat.completions.create(model="kimi", messages=[{"role": "user", "content": "describe"}], extra_body={
        "images": ["https://example.com/a.png"], "videos": ["https://example.com/v.mp4"]})
    assert fake.last.json()["messages"][-1]["content"] == [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}]


def test_per_model_options_say_what_an_unknown_id_sees(fake: FakeMoonshot) -> None:
    gw = start_gateway_for([{"name": name, "provider": "moonshot", "model": "kimi-custom", "base_url": fake.base_url,
                             "api_key": VENDOR_KEY, "options": options}
                            for name, options in (("seeing", {"vision": True}), ("plain", {}))])
    try:
        sdk = openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
        image = {"images": ["https://example.com/a.png"]}
        sdk.chat.completions.create(model="seeing", messages=[{"role": "user", "content": "?"}], extra_body=image)
        assert fake.last.json()["messages"][0]["content"][-1]["type"] == "image_url"
        with pytest.raises(openai.BadRequestError, match="kimi-custom does not take images"):
            sdk.chat.completions.create(model="plain", messages=[{"role": "user", "content": "?"}], extra_body=image)
    finally:
        gw.stop()


def test_text_models_get_string_content(fake: FakeMoonshot, client: Any) -> None:
    client.chat.completions.create(model="moonshot-8k", messages=[
        {"role": "user", "content": [{"type": "text", "text": "a "}, {"type": "text", "text": "b"}]}])
    assert fake.last.json()["messages"][0]["content"] == "a b"


@pytest.mark.parametrize(("model", "extra", "named"), [
    ("kimi", {"file_urls": ["https://example.com/r.pdf"]}, "kimi-k2.6 does not take files"),
    ("kimi", {"voices": ["https://example.com/a.mp3"]}, "kimi-k2.6 does not take audio"),
    ("moonshot-8k", {"images": ["https://example.com/a.png"]}, "moonshot-v1-8k does not take images"),
    ("moonshot-vision", {"videos": ["https://example.com/v.mp4"]},
     "moonshot-v1-8k-vision-preview does not take videos"),
])
def test_a_medium_the_model_cannot_take_is_a_400_naming_it(fake: FakeMoonshot, client: Any, model: str,
                                                            extra: dict[str, Any], named: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "?"}], extra_body=extra)
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert named in envelope["error"]["message"] and envelope["error"]["code"] == "unsupported_media"
    assert fake.requests == []


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("status", "kind", "message", "want_code", "want_type"), [
    (400, "content_filter", "The request was rejected because it was considered high risk",
     "content_filter", "invalid_request_error"),
    (400, "invalid_request_error", "Your request exceeded model token limit : 262144",
     "context_length_exceeded", "invalid_request_error"),
    (401, "invalid_authentication_error", "Invalid Authentication", "invalid_authentication_error",
     "authentication_error"),
    (429, "engine_overloaded_error", "The engine is currently overloaded, please try again later",
     "engine_overloaded_error", "rate_limit_error"),
])
def test_error_types_become_openai_envelopes(fake: FakeMoonshot, client: Any, status: int, kind: str,
                                             message: str, want_code: str, want_type: str) -> None:
    fake.push(kimi_error(status, kind, message))
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="kimi", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["code"] == want_code and envelope["error"]["type"] == want_type
    assert message in envelope["error"]["message"] and VENDOR_KEY not in info.value.response.text


def test_spent_quota_is_not_retried_but_overload_falls_back(fake: FakeMoonshot) -> None:
    other = FakeMoonshot(api_key=VENDOR_KEY).start()
    try:
        gw = start_gateway_for([{"name": "kimi", "provider": "moonshot", "model": "kimi-k2.6", "base_url": base,
                                 "api_key": VENDOR_KEY} for base in (fake.base_url, other.base_url)])
        try:
            sdk = openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=2)
            fake.push(kimi_error(429, "exceeded_current_quota_error",
                                 "Your account is suspended, please check your plan and billing details"))
            with pytest.raises(openai.RateLimitError) as info:
                sdk.chat.completions.create(model="kimi", messages=[{"role": "user", "content": "x"}])
            assert info.value.response.headers["x-should-retry"] == "false"
            assert orjson.loads(info.value.response.content)["error"]["type"] == "insufficient_quota"
            assert len(fake.requests) == 1 and other.requests == []
            fake.push(kimi_error(429, "engine_overloaded_error", "The engine is currently overloaded"))
            other.queue_text("from the second deployment")
            done = sdk.chat.completions.create(model="kimi", messages=[{"role": "user", "content": "x"}])
            assert done.choices[0].message.content == "from the second deployment"
        finally:
            gw.stop()
    finally:
        other.stop()


def test_error_inside_a_200_stream_is_an_error_not_content(fake: FakeMoonshot, client: Any) -> None:
    start = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"kimi-k2.6","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
    failed = b'data: {"error":{"type":"engine_overloaded_error","message":"The engine is currently overloaded"}}\n\n'
    fake.push(Reply.sse([start, failed]))
    stream = client.chat.completions.create(model="kimi", stream=True, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.APIError, match="overloaded"):
        for _ in stream:
            pass


# ----------------------------------------------------------------------------- seed 003


def test_seed_003_kimi_text_example_replayed(fake: FakeMoonshot, gateway: Any) -> None:
    example, shown = SEED["examples"][0], SEED["response"]
    message = shown["choices"][0]["message"]
    fake.queue_text(message["content"], reasoning=message["reasoning_content"], usage=shown["usage"])
    r = httpx.post(gateway.openai_base_url + "/chat/completions", json=example["request"], timeout=30,
                   headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
    assert r.status_code == 200, r.text
    body = r.json()
    openapi.validate_chat_completion(body)
    assert body["object"] == "chat.completion" and body["model"] == "kimi-k2.6"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["reasoning_content"] == message["reasoning_content"]
    assert body["choices"][0]["message"]["content"] == message["content"]
    assert {k: body["usage"][k] for k in shown["usage"]} == shown["usage"]
    assert fake.last.json()["thinking"] == {"type": "enabled"}


def test_seed_003_kimi_multimodal_example_replayed(fake: FakeMoonshot, gateway: Any) -> None:
    """The seed's images[] reach Kimi as image parts; its file_urls[] (a PDF) Kimi's chat cannot
    take from a URL (only through its Files API), so that example is a 400 naming the files."""
    example, shown = SEED["examples"][1], SEED["response"]
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    r = httpx.post(gateway.openai_base_url + "/chat/completions", json=example["request"], headers=headers)
    assert r.status_code == 400 and "kimi-k2.6 does not take files" in r.json()["error"]["message"]
    assert fake.requests == []
    images_only = {k: v for k, v in example["request"].items() if k != "file_urls"}
    message = shown["choices"][0]["message"]
    fake.queue_text(message["content"], reasoning=message["reasoning_content"], usage=shown["usage"])
    r = httpx.post(gateway.openai_base_url + "/chat/completions", json=images_only, headers=headers)
    assert r.status_code == 200, r.text
    openapi.validate_chat_completion(r.json())
    assert r.json()["choices"][0]["message"]["content"] == message["content"]
    assert fake.last.json()["messages"][-1]["content"][-1] == {
        "type": "image_url", "image_url": {"url": "https://example.com/chart.png"}}
