"""relayport-minimax through a real gateway, driven with the official `openai` SDK.

The vendor is `FakeMiniMax`: MiniMax's wire format (reasoning in `<think>` tags or
`reasoning_details`, `base_resp` failures under HTTP 200, the repeated last frame, no `[DONE]`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import Reply
from relayport_minimax.testing import FakeMiniMax

SEED = json.loads((Path(__file__).parent / "data" / "seed003_minimax_text.json").read_text())
GATEWAY_KEY = "sk-gateway-minimax"


class TestMiniMaxConformance(ProviderConformance):
    provider = "minimax"
    entry_point = "minimax"
    model = "MiniMax-M2.7"
    vision_model = "MiniMax-M3"

    def make_fake(self) -> FakeMiniMax:
        return FakeMiniMax()


@pytest.fixture
def fake():
    vendor = FakeMiniMax().start()
    yield vendor
    vendor.stop()


def _models(fake: FakeMiniMax, *models: str, base_url: str | None = None) -> list[dict[str, Any]]:
    return [{"name": m, "provider": "minimax", "model": m, "base_url": base_url or fake.base_url,
             "api_key": fake.api_key} for m in models]


@pytest.fixture
def gateway(relayport_gateway, fake):
    return relayport_gateway({"auth": {"keys": [GATEWAY_KEY]},
                              "models": _models(fake, "MiniMax-M2.7", "MiniMax-M2.7-highspeed", "MiniMax-M3")},
                             env={})


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


def _stream_raw(gw, body: dict[str, Any]) -> tuple[httpx.Response, list[dict[str, Any]], bytes]:
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {GATEWAY_KEY}"}) as r:
        raw = r.read()
    datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    chunks = [orjson.loads(d) for d in datas if d != b"[DONE]"]
    return r, chunks, raw


def _joined(chunks: list[dict[str, Any]], field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c.get("choices"))


# ---------------------------------------------------------------------------- seed 003


@pytest.mark.parametrize("model", ["MiniMax-M2.7", "MiniMax-M2.7-highspeed"])
def test_seed_003_text_example_gets_the_seed_shape(gateway, fake, model):
    expected = SEED["response"]
    message = expected["choices"][0]["message"]
    fake.queue_text(message["content"], reasoning=message["reasoning_content"], usage=expected["usage"])
    r = httpx.post(gateway.openai_base_url + "/chat/completions", json={**SEED["request"], "model": model},
                   headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    openapi.validate_chat_completion(body)
    got = body["choices"][0]
    assert got["finish_reason"] == "stop"
    assert got["message"]["content"] == message["content"]
    assert got["message"]["reasoning_content"] == message["reasoning_content"]
    assert "reasoning_details" not in got["message"]
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 228
    assert body["usage"]["prompt_tokens"] == 26 and body["usage"]["total_tokens"] == 264
    for field in ("input_sensitive", "output_sensitive", "input_sensitive_type", "output_sensitive_type"):
        assert body[field] == expected[field]
    sent = fake.last.json()
    assert sent["model"] == model
    assert sent["max_completion_tokens"] == 256 and "max_tokens" not in sent
    assert sent["reasoning_split"] is True


# ---------------------------------------------------------------------------- reasoning


def test_think_tags_split_in_a_non_stream_answer(gateway, fake):
    fake.queue_text("Ten.", reasoning="2,3,5,7,11,13,17,19,23,29 are ten primes.")
    completion = _client(gateway).chat.completions.create(
        model="MiniMax-M2.7", messages=[{"role": "user", "content": "primes below 30?"}],
        extra_body={"reasoning_split": False})
    message = completion.choices[0].message
    assert message.content == "Ten."
    assert message.model_extra["reasoning_content"] == "2,3,5,7,11,13,17,19,23,29 are ten primes."
    assert fake.last.json()["reasoning_split"] is False  # the client's own choice is kept


def test_think_tags_cut_across_chunks_become_reasoning_deltas(gateway, fake):
    reasoning = "The user wants a proof.\nKeep it short."
    text = "a + b = 2(h + k + 1), which is even."
    fake.queue_text(text, reasoning=reasoning, usage=fake.usage(767, 172, cached=443, reasoning=25))
    r, chunks, raw = _stream_raw(gateway, {
        "model": "MiniMax-M2.7", "stream": True, "stream_options": {"include_usage": True},
        "reasoning_split": False, "messages": [{"role": "user", "content": "prove it"}]})
    assert r.status_code == 200
    assert raw.endswith(b"data: [DONE]\n\n")  # MiniMax sent none; OpenAI clients get theirs
    for chunk in chunks:
        openapi.validate_chat_chunk(chunk)
    assert _joined(chunks, "reasoning_content") == reasoning
    assert _joined(chunks, "content") == text  # once: the repeated last frame adds nothing
    assert b"<think>" not in raw and b"</think>" not in raw
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["stop"]
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["prompt_tokens"] == 767 and usage["completion_tokens"] == 172
    assert usage["prompt_tokens_details"]["cached_tokens"] == 443
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 25


@pytest.mark.parametrize("details", ["incremental", "cumulative"])
def test_reasoning_details_incremental_or_cumulative(relayport_gateway, details):
    fake = FakeMiniMax(details=details).start()
    try:
        gw = relayport_gateway({"models": _models(fake, "MiniMax-M2.7")}, env={})
        reasoning = "The user is asking how I am, which is a simple greeting."
        fake.queue_text("I'm well, thanks!", reasoning=reasoning)
        stream = openai.OpenAI(base_url=gw.openai_base_url, api_key="x", max_retries=0).chat.completions.create(
            model="MiniMax-M2.7", messages=[{"role": "user", "content": "Hi, how are you?"}], stream=True)
        got_reasoning, text = "", ""
        for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None:
                got_reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
                text += delta.content or ""
        assert got_reasoning == reasoning
        assert text == "I'm well, thanks!"
        assert fake.last.json()["reasoning_split"] is True
    finally:
        fake.stop()


def test_stream_that_ends_with_a_usage_chunk(relayport_gateway):
    fake = FakeMiniMax(last_frame="usage", done=True).start()
    try:
        gw = relayport_gateway({"models": _models(fake, "MiniMax-M2.7")}, env={})
        fake.queue_text("short answer", reasoning="thinking", usage=fake.usage(10, 5))
        _, chunks, _ = _stream_raw(gw, {"model": "MiniMax-M2.7", "stream": True,
                                        "stream_options": {"include_usage": True},
                                        "messages": [{"role": "user", "content": "q"}]})
        assert _joined(chunks, "content") == "short answer"
        assert chunks[-1]["usage"]["total_tokens"] == 15
        # The vendor's zero placeholders never reach the client as usage.
        assert all(c.get("usage") is None for c in chunks[:-1])
    finally:
        fake.stop()


def test_reasoning_is_replayed_as_reasoning_details_with_tools(gateway, fake):
    calls = [{"id": "call_function_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city": "Shanghai"}'}}]
    fake.queue_text("", reasoning="I need the weather tool.", tool_calls=calls)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    client = _client(gateway)
    first = client.chat.completions.create(model="MiniMax-M2.7", tools=tools,
                                           messages=[{"role": "user", "content": "weather in Shanghai?"}])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.arguments == '{"city": "Shanghai"}'
    assert choice.message.model_extra["reasoning_content"] == "I need the weather tool."
    fake.queue_text("Sunny, 25°C.")
    second = client.chat.completions.create(model="MiniMax-M2.7", tools=tools, messages=[
        {"role": "user", "content": "weather in Shanghai?"},
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_function_1", "content": "sunny 25"}])
    assert second.choices[0].message.content == "Sunny, 25°C."
    replayed = fake.last.json()["messages"][1]
    assert replayed["reasoning_details"] == [{"type": "reasoning.text", "text": "I need the weather tool."}]
    assert "reasoning_content" not in replayed
    assert replayed["tool_calls"][0]["id"] == "call_function_1"


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("code", "status", "kind"), [
    (1008, 402, "insufficient_balance"),
    (1004, 401, "invalid_api_key"),
    (1026, 400, "content_filter"),
    (2013, 400, "invalid_request"),
])
def test_http_200_base_resp_errors_get_a_faithful_status(gateway, fake, code, status, kind):
    fake.push(fake.business_error(code, "what MiniMax says", input_sensitive=code == 1026))
    with pytest.raises(openai.APIStatusError) as info:
        _client(gateway).chat.completions.create(model="MiniMax-M2.7", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == status
    envelope = orjson.loads(info.value.response.content)
    openapi.validate_error(envelope)
    assert envelope["error"]["code"] == kind
    assert f"what MiniMax says ({code})" in envelope["error"]["message"]


@pytest.mark.parametrize(("code", "falls_back"), [(1008, False), (1002, True)])
def test_balance_errors_are_not_retried_rate_limits_are(relayport_gateway, code, falls_back):
    first, second = FakeMiniMax().start(), FakeMiniMax().start()
    try:
        deployments = _models(first, "m") + _models(second, "m")
        deployments[0]["model"] = deployments[1]["model"] = "MiniMax-M2.7"
        gw = relayport_gateway({"models": deployments, "router": {"max_attempts": 2}}, env={})
        first.push(first.business_error(code, "no"))
        second.queue_text("from the second")
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key="x", max_retries=0)
        if falls_back:
            assert client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content == "from the second"
        else:
            with pytest.raises(openai.APIStatusError) as info:
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            assert info.value.status_code == 402
            assert not second.requests
    finally:
        first.stop()
        second.stop()


def test_http_200_error_to_a_stream_request_is_an_error_status(gateway, fake):
    fake.push(fake.business_error(1002, "rate limit"))  # a JSON body, although a stream was asked for
    with pytest.raises(openai.RateLimitError) as info:
        list(_client(gateway).chat.completions.create(
            model="MiniMax-M2.7", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "rate limit (1002)" in info.value.message


def test_error_mid_stream_is_an_error_not_content(gateway, fake):
    fake.queue_text("This answer will be cut off by the safety check.", fail_after=3, fail_code=1027)
    r, chunks, raw = _stream_raw(gateway, {"model": "MiniMax-M2.7", "stream": True,
                                           "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert _joined(chunks, "content") == "This answer will "[:15]  # three chunks of five characters
    error = chunks[-1]
    openapi.validate_error(error)
    assert error["error"]["code"] == "content_filter"
    assert "output new_sensitive (1027)" in error["error"]["message"]
    with pytest.raises(openai.APIError, match="1027"):
        fake.queue_text("This answer will be cut off by the safety check.", fail_after=3, fail_code=1027)
        list(_client(gateway).chat.completions.create(
            model="MiniMax-M2.7", messages=[{"role": "user", "content": "hi"}], stream=True))


def test_output_flagged_sensitive_finishes_with_content_filter(gateway, fake):
    fake.queue_text("", output_sensitive=True)
    body = _client(gateway).chat.completions.with_raw_response.create(
        model="MiniMax-M2.7", messages=[{"role": "user", "content": "hi"}])
    completion = body.parse()
    assert completion.choices[0].finish_reason == "content_filter"
    assert orjson.loads(body.content)["output_sensitive"] is True


# ---------------------------------------------------------------------------- request mapping


def test_thinking_search_and_temperature_are_mapped_and_announced(gateway, fake):
    r = httpx.post(gateway.openai_base_url + "/chat/completions", timeout=30,
                   headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
                   json={"model": "MiniMax-M2.7", "messages": [{"role": "user", "content": "hi"}],
                         "enable_thinking": False, "reasoning_effort": "high", "enable_search": True,
                         "temperature": 0, "max_tokens": 100})
    assert r.status_code == 200, r.text
    sent = fake.last.json()
    assert "enable_thinking" not in sent and "thinking" not in sent and "reasoning_effort" not in sent
    assert "enable_search" not in sent
    assert sent["temperature"] == 0.01 and sent["max_completion_tokens"] == 100
    told = r.headers["x-relayport-adjustments"]
    assert "thinking stays on" in told and "enable_search ignored" in told
    assert "reasoning_effort ignored" in told and "temperature 0 clamped to 0.01" in told


def test_thinking_can_be_switched_off_on_m3(gateway, fake):
    _client(gateway).chat.completions.create(model="MiniMax-M3", messages=[{"role": "user", "content": "hi"}],
                                             extra_body={"enable_thinking": False})
    assert fake.last.json()["thinking"] == {"type": "disabled"}


def test_media_the_model_cannot_take_is_a_400_naming_it(gateway, fake):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    with pytest.raises(openai.BadRequestError) as info:
        _client(gateway).chat.completions.create(
            model="MiniMax-M2.7", messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}])
    assert "does not take images" in info.value.message
    assert not fake.requests
    with pytest.raises(openai.BadRequestError, match="does not take video"):
        _client(gateway).chat.completions.create(model="MiniMax-M3", messages=[{"role": "user", "content": "x"}],
                                                 extra_body={"videos": ["https://example.com/a.mp4"]})
    _client(gateway).chat.completions.create(
        model="MiniMax-M3", messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}])
    assert fake.last.json()["messages"][0]["content"][1] == image


def test_host_root_base_url_and_the_mainland_provider(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "cn", "provider": "minimax-cn", "model": "MiniMax-M2.7",
                                        "base_url": fake.url, "api_key": fake.api_key}]}, env={})
    _client(gw).chat.completions.create(model="cn", messages=[{"role": "user", "content": "hi"}])
    assert fake.last.path == "/v1/chat/completions"


def test_wrong_key_is_a_401_not_a_502(relayport_gateway, fake):
    gw = relayport_gateway({"models": [{"name": "m", "provider": "minimax", "model": "MiniMax-M2.7",
                                        "base_url": fake.base_url, "api_key": "sk-wrong"}]}, env={})
    with pytest.raises(openai.AuthenticationError) as info:
        _client(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert "sk-wrong" not in info.value.response.text


def test_finish_reason_only_in_the_repeated_last_frame(relayport_gateway):
    fake = FakeMiniMax(finish_in_delta=False).start()
    try:
        gw = relayport_gateway({"models": _models(fake, "MiniMax-M2.7")}, env={})
        fake.queue_text("cut short", reasoning="r", finish_reason="length")
        _, chunks, _ = _stream_raw(gw, {"model": "MiniMax-M2.7", "stream": True,
                                        "messages": [{"role": "user", "content": "q"}]})
        finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        assert finishes == ["length"]
        assert _joined(chunks, "content") == "cut short"
    finally:
        fake.stop()


def test_code_in_an_openai_style_message_decides_the_status(relayport_gateway):
    # Seen from MiniMax: `insufficient balance (1008)` sent as HTTP 500 (and as 429 elsewhere).
    first, second = FakeMiniMax().start(), FakeMiniMax().start()
    try:
        deployments = _models(first, "MiniMax-M2.7") + _models(second, "MiniMax-M2.7")
        gw = relayport_gateway({"models": deployments}, env={})
        first.push(Reply.json({"error": {"type": "api_error", "message": "insufficient balance (1008)",
                                         "http_code": "500"}}, status=500))
        with pytest.raises(openai.APIStatusError) as info:
            _client(gw).chat.completions.create(model="MiniMax-M2.7", messages=[{"role": "user", "content": "hi"}])
        assert info.value.status_code == 402
        assert not second.requests  # a balance problem is not worth another deployment's try
    finally:
        first.stop()
        second.stop()
