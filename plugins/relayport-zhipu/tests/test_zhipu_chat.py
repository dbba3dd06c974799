"""GLM through the gateway with the official openai SDK: what a client sees and what GLM gets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from zhipu_helpers import GATEWAY_KEY, MODELS, VENDOR_KEY, start_gateway_for

from relayport.testing import openapi
from relayport.testing.chat import finishes as _finishes
from relayport.testing.chat import stream_chat
from relayport.testing.chat import text_of as _text
from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import Reply
from relayport.testing.servers import GatewayHandle
from relayport_zhipu.testing import FakeZhipu, glm_error

SEEDS = json.loads((Path(__file__).parent / "data" / "seed003_glm.json").read_text())["examples"]


@pytest.fixture
def fake() -> Iterator[FakeZhipu]:
    server = FakeZhipu(api_key=VENDOR_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(fake: FakeZhipu) -> Iterator[GatewayHandle]:
    handle = start_gateway_for([{"name": name, "provider": "zhipu", "model": model, "base_url": fake.base_url,
                                 "api_key": VENDOR_KEY} for name, model in MODELS.items()])
    yield handle
    handle.stop()


@pytest.fixture
def client(gateway: GatewayHandle) -> Any:
    return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


class TestZhipuConformance(ProviderConformance):
    provider = "zhipu"
    entry_point = "zhipu"
    model = "glm-4.6"
    vision_model = "glm-4.6v"

    def make_fake(self) -> FakeZhipu:
        return FakeZhipu()


class TestZaiConformance(TestZhipuConformance):
    provider = "zai"


def _raw_stream(gateway: Any, body: dict[str, Any]) -> tuple[httpx.Headers, list[dict[str, Any]]]:
    stream = stream_chat(gateway, body, GATEWAY_KEY)
    return stream.headers, stream.chunks


# ----------------------------------------------------------------------------- thinking


def test_thinking_answer_validates_and_keeps_reasoning_and_cache(fake: FakeZhipu, client: Any) -> None:
    fake.queue_text("三点如下。", reasoning="先想一想。", usage=fake.usage(40, 20, cached=32, reasoning=8))
    raw = client.chat.completions.with_raw_response.create(
        model="glm", messages=[{"role": "user", "content": "总结"}], extra_body={"enable_thinking": True})
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)  # GLM omits refusal/logprobs: filled in
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "先想一想。" and message["content"] == "三点如下。"
    assert message["refusal"] is None and body["choices"][0]["logprobs"] is None
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 32
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 8
    sent = fake.last.json()
    assert sent["model"] == "glm-4.6" and sent["thinking"] == {"type": "enabled"}
    assert "enable_thinking" not in sent


def test_thinking_off_and_effort_spelled_as_thinking_type(fake: FakeZhipu, client: Any) -> None:
    client.chat.completions.create(model="glm", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"thinking": {"type": "disabled"}})
    assert fake.last.json()["thinking"] == {"type": "disabled"}
    raw = client.chat.completions.with_raw_response.create(
        model="glm", messages=[{"role": "user", "content": "hi"}], reasoning_effort="high")
    sent = fake.last.json()
    assert sent["thinking"] == {"type": "enabled"} and "reasoning_effort" not in sent
    assert raw.headers["x-relayport-adjustments"] == "reasoning_effort sent as thinking.type"
    client.chat.completions.create(model="glm", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"enable_thinking": False, "thinking_budget": 0})
    assert fake.last.json()["thinking"] == {"type": "disabled"}


def test_stream_reasoning_text_and_usage_chunk_only_when_asked(fake: FakeZhipu, gateway: Any) -> None:
    fake.queue_text("the answer", reasoning="step one step two", usage=fake.usage(50, 9, cached=16))
    request = {"model": "glm", "stream": True, "stream_options": {"include_usage": True},
               "messages": [{"role": "user", "content": "q"}]}
    _, chunks = _raw_stream(gateway, request)
    assert _text(chunks, "reasoning_content") == "step one step two"
    assert _text(chunks) == "the answer"
    assert _finishes(chunks) == ["stop"]
    # GLM put usage on its last content chunk: the client gets OpenAI's own final usage chunk.
    assert [c for c in chunks if c.get("usage")] == [chunks[-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 16
    fake.queue_text("again")
    _, chunks = _raw_stream(gateway, {**request, "stream_options": None})
    assert _text(chunks) == "again" and not any(c.get("usage") for c in chunks)


# ----------------------------------------------------------------------------- tools


WEATHER = {"type": "function", "function": {"name": "weather", "description": "weather of a city",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}}}}}
CALL = {"id": "call_glm_1", "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "北京"}'}}


def test_streamed_tool_call_uses_tool_stream(fake: FakeZhipu, client: Any) -> None:
    fake.queue_text("", tool_calls=[CALL])
    stream = client.chat.completions.create(model="glm", stream=True, tools=[WEATHER],
                                            messages=[{"role": "user", "content": "北京天气"}])
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
            slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] += tc.id or ""
            slot["name"] += (tc.function.name or "") if tc.function else ""
            slot["arguments"] += (tc.function.arguments or "") if tc.function else ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert calls == {0: {"id": "call_glm_1", "name": "weather", "arguments": '{"city": "北京"}'}}
    assert finish == "tool_calls"
    assert fake.last.json()["tool_stream"] is True  # GLM-4.6 streams the arguments in pieces


def test_tool_stream_only_for_models_that_have_it_and_only_when_streaming(fake: FakeZhipu, client: Any) -> None:
    fake.queue_text("", tool_calls=[CALL])
    list(client.chat.completions.create(model="glm-old", stream=True, tools=[WEATHER],
                                        messages=[{"role": "user", "content": "天气"}]))
    assert "tool_stream" not in fake.last.json()
    fake.queue_text("", tool_calls=[CALL])
    raw = client.chat.completions.with_raw_response.create(
        model="glm", tools=[WEATHER], messages=[{"role": "user", "content": "天气"}],
        extra_body={"tool_stream": True})
    assert raw.parse().choices[0].message.tool_calls[0].function.arguments == '{"city": "北京"}'
    assert "tool_stream" not in fake.last.json()
    assert raw.headers["x-relayport-adjustments"] == "tool_stream dropped: the call does not stream"


def test_tool_choice_beyond_auto_is_mapped(fake: FakeZhipu, client: Any) -> None:
    fake.queue_text("", tool_calls=[CALL])
    raw = client.chat.completions.with_raw_response.create(
        model="glm", tools=[WEATHER], tool_choice="required", messages=[{"role": "user", "content": "天气"}])
    assert raw.parse().choices[0].finish_reason == "tool_calls"
    assert fake.last.json()["tool_choice"] == "auto"
    assert raw.headers["x-relayport-adjustments"] == "tool_choice sent as auto: GLM takes no other"
    raw = client.chat.completions.with_raw_response.create(
        model="glm", tools=[WEATHER], tool_choice="none", messages=[{"role": "user", "content": "天气"}])
    sent = fake.last.json()
    assert "tools" not in sent and "tool_choice" not in sent
    assert raw.headers["x-relayport-adjustments"] == "tool_choice none: tools withheld"


# ----------------------------------------------------------------------------- search


def test_enable_search_becomes_the_web_search_tool_and_sources_come_back(fake: FakeZhipu, client: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="glm", messages=[{"role": "user", "content": "今天的新闻"}], extra_body={"enable_search": True})
    sent = fake.last.json()
    assert sent["tools"] == [{"type": "web_search", "web_search": {"enable": True, "search_result": True}}]
    assert "enable_search" not in sent
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["web_search"][0]["link"] == "https://example.com/news"
    client.chat.completions.create(model="glm", messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"enable_search": False})
    assert "tools" not in fake.last.json()


def test_per_model_options_set_the_search_engine_and_vision(fake: FakeZhipu) -> None:
    gw = start_gateway_for([{"name": "custom", "provider": "zhipu", "model": "glm-custom-vision",
                             "base_url": fake.base_url, "api_key": VENDOR_KEY,
                             "options": {"search_engine": "search_pro", "vision": True}}])
    try:
        sdk = openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
        fake.vision_models.add("glm-custom-vision")
        fake.queue_text("ok")
        sdk.chat.completions.create(model="custom", messages=[{"role": "user", "content": "看图"}],
                                    extra_body={"enable_search": True, "images": ["https://example.com/a.png"]})
        sent = fake.last.json()
        assert sent["tools"][0]["web_search"]["search_engine"] == "search_pro"
        assert sent["messages"][0]["content"][-1]["type"] == "image_url"  # the id alone says "text model"
    finally:
        gw.stop()


# ----------------------------------------------------------------------------- media


def test_media_arrays_reach_a_vision_model_as_glm_parts(fake: FakeZhipu, client: Any) -> None:
    client.chat.completions.create(
        model="glm-5v-turbo", messages=[{"role": "user", "content": "describe"}],
        extra_body={"images": ["https://example.com/a.png"], "videos": ["https://example.com/v.mp4"],
                    "file_urls": ["https://example.com/r.pdf"]})
    parts = fake.last.json()["messages"][-1]["content"]
    assert parts == [{"type": "text", "text": "describe"},
                     {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                     {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}},
                     {"type": "file_url", "file_url": {"url": "https://example.com/r.pdf"}}]


def test_video_part_reaches_a_vision_model(fake: FakeZhipu, client: Any) -> None:
    content = [{"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}},
               {"type": "text", "text": "what happens?"}]
    client.chat.completions.create(model="glm-5v-turbo", messages=[{"role": "user", "content": content}])
    assert fake.last.json()["messages"][0]["content"] == content


@pytest.mark.parametrize(("model", "extra", "named"), [
    ("glm-5.1", {"images": ["https://example.com/a.png"]}, "glm-5.1 does not take images"),
    ("glm-5.1", {"videos": ["https://example.com/v.mp4"]}, "glm-5.1 does not take videos"),
    ("glm-5v-turbo", {"voices": ["https://example.com/a.mp3"]}, "glm-5v-turbo does not take audio"),
])
def test_a_medium_the_model_cannot_take_is_a_400_naming_it(fake: FakeZhipu, client: Any, model: str,
                                                            extra: dict[str, Any], named: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "?"}], extra_body=extra)
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert named in envelope["error"]["message"] and envelope["error"]["code"] == "unsupported_media"
    assert fake.requests == []  # refused before any call to GLM


# ----------------------------------------------------------------------------- safety and errors


def test_sensitive_finish_is_content_filter(fake: FakeZhipu, client: Any, gateway: Any) -> None:
    fake.queue_text("部分内容", finish_reason="sensitive")
    raw = client.chat.completions.with_raw_response.create(model="glm", messages=[{"role": "user", "content": "x"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["finish_reason"] == "content_filter"
    fake.queue_text("部分内容", finish_reason="sensitive")
    _, chunks = _raw_stream(gateway, {"model": "glm", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert _finishes(chunks) == ["content_filter"]


def test_safety_block_inside_a_started_stream_ends_it_as_content_filter(fake: FakeZhipu, gateway: Any) -> None:
    start = b'data: {"id":"1","created":1,"model":"glm-4.6","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}\n\n'
    block = b'data: {"error":{"code":"1301","message":"\xe7\xb3\xbb\xe7\xbb\x9f\xe6\xa3\x80\xe6\xb5\x8b\xe5\x88\xb0\xe8\xbe\x93\xe5\x85\xa5\xe6\x88\x96\xe7\x94\x9f\xe6\x88\x90\xe5\x86\x85\xe5\xae\xb9\xe5\x8f\xaf\xe8\x83\xbd\xe5\x8c\x85\xe5\x90\xab\xe4\xb8\x8d\xe5\xae\x89\xe5\x85\xa8\xe6\x88\x96\xe6\x95\x8f\xe6\x84\x9f\xe5\x86\x85\xe5\xae\xb9"}}\n\n'
    fake.push(Reply.sse([start, block, b"data: [DONE]\n\n"]))
    _, chunks = _raw_stream(gateway, {"model": "glm", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert _text(chunks) == "Hello" and _finishes(chunks) == ["content_filter"]


def test_other_error_inside_a_200_stream_is_an_error_not_content(fake: FakeZhipu, client: Any) -> None:
    start = b'data: {"id":"1","created":1,"model":"glm-4.6","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
    fake.push(Reply.sse([start, b'data: {"error":{"code":"1234","message":"Network error, error id: x"}}\n\n']))
    stream = client.chat.completions.create(model="glm", stream=True, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.APIError, match="Network error"):
        for _ in stream:
            pass


@pytest.mark.parametrize(("status", "code", "want_status", "want_code", "want_type"), [
    (400, "1301", 400, "content_filter", "invalid_request_error"),
    (400, "1261", 400, "context_length_exceeded", "invalid_request_error"),
    (400, "1211", 404, "1211", "not_found_error"),
    (401, "1002", 401, "1002", "authentication_error"),
    (429, "1113", 429, "1113", "insufficient_quota"),
    (429, "1302", 429, "1302", "rate_limit_error"),
])
def test_business_codes_become_faithful_statuses(fake: FakeZhipu, client: Any, status: int, code: str,
                                                  want_status: int, want_code: str, want_type: str) -> None:
    fake.push(glm_error(status, code, f"glm says {code}"))
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="glm", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == want_status
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["code"] == want_code and envelope["error"]["type"] == want_type
    assert f"glm says {code}" in envelope["error"]["message"]
    assert VENDOR_KEY not in info.value.response.text


def test_arrears_are_not_retried_but_rate_limits_fall_back(fake: FakeZhipu) -> None:
    other = FakeZhipu(api_key=VENDOR_KEY).start()
    try:
        models = [{"name": "glm", "provider": "zhipu", "model": "glm-4.6", "base_url": base,
                   "api_key": VENDOR_KEY} for base in (fake.base_url, other.base_url)]
        gw = start_gateway_for(models)
        try:
            sdk = openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=2)
            fake.push(glm_error(429, "1113", "您的账户已欠费，请充值后重试。"))
            with pytest.raises(openai.RateLimitError) as info:
                sdk.chat.completions.create(model="glm", messages=[{"role": "user", "content": "x"}])
            assert info.value.response.headers["x-should-retry"] == "false"
            assert len(fake.requests) == 1 and other.requests == []  # neither retried nor moved on
            fake.push(glm_error(429, "1302", "当前API请求过多"))
            other.queue_text("from the second deployment")
            done = sdk.chat.completions.create(model="glm", messages=[{"role": "user", "content": "x"}])
            assert done.choices[0].message.content == "from the second deployment"
        finally:
            gw.stop()
    finally:
        other.stop()


# ----------------------------------------------------------------------------- hosts


def test_both_hosts_are_providers_with_their_own_keys() -> None:
    from relayport.plugins import load_plugins

    plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": "zhipu"})
    zhipu, zai = plugins.provider("zhipu"), plugins.provider("zai")
    assert zhipu is not None and zai is not None
    assert zhipu.spec.base_url == "https://open.bigmodel.cn/api/paas/v4"
    assert zai.spec.base_url == "https://api.z.ai/api/paas/v4"
    assert zhipu.spec.key_env[0] == "ZHIPUAI_API_KEY" and zai.spec.key_env == ("ZAI_API_KEY",)


def test_zai_host_serves_glm_models_by_pattern_with_its_key(fake: FakeZhipu) -> None:
    from relayport.config import parse_config
    from relayport.plugins import load_plugins
    from relayport.routing import Router

    plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": "zhipu"})
    router = Router(parse_config({}, "<test>"), plugins, env={"ZAI_API_KEY": "zai-key"})
    [dep] = router.resolve("glm-4.6")
    assert dep.provider.name == "zai" and dep.url("/chat/completions") == "https://api.z.ai/api/paas/v4/chat/completions"


# ----------------------------------------------------------------------------- seed 003


@pytest.mark.parametrize("seed", SEEDS, ids=[s["name"] for s in SEEDS])
def test_seed_003_glm_examples_replayed(fake: FakeZhipu, gateway: Any, seed: dict[str, Any]) -> None:
    shown = seed["response"]
    message = shown["choices"][0]["message"]
    fake.queue_text(message["content"], reasoning=message.get("reasoning_content"), usage=shown["usage"])
    r = httpx.post(gateway.openai_base_url + "/chat/completions", json=seed["request"], timeout=30,
                   headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
    assert r.status_code == 200, r.text
    body = r.json()
    openapi.validate_chat_completion(body)
    assert body["object"] == "chat.completion" and body["model"] == shown["model"]
    got = body["choices"][0]
    assert got["finish_reason"] == "stop"
    assert got["message"]["content"] == message["content"]
    assert got["message"].get("reasoning_content") == message.get("reasoning_content")
    assert {k: body["usage"][k] for k in shown["usage"]} == shown["usage"]
    sent = fake.last.json()
    assert set(sent) & {"enable_thinking", "images", "videos", "file_urls", "voices"} == set()
    if seed["request"].get("enable_thinking"):
        assert sent["thinking"] == {"type": "enabled"}
    if seed["request"].get("images"):
        assert sent["messages"][-1]["content"][-1] == {"type": "image_url",
                                                       "image_url": {"url": seed["request"]["images"][0]}}
