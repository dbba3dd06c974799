"""relayport-doubao through a real gateway, driven with the official `openai` SDK, against `FakeArk`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from relayport.model.stream import StreamError, TextDelta
from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport_doubao import COMPAT
from relayport_doubao.stream import ArkStreamParser
from relayport_doubao.testing import FakeArk

SEED = json.loads((Path(__file__).parent / "data" / "seed001_video_understanding.json").read_text())
GATEWAY_KEY = "sk-gateway-doubao"
MODEL = "doubao-seed-2-0-pro-260215"
ENDPOINT = "ep-20260215123456-abcde"


class TestDoubaoConformance(ProviderConformance):
    provider = "doubao"
    entry_point = "doubao"
    model = MODEL

    def make_fake(self) -> FakeArk:
        return FakeArk()


@pytest.fixture
def fake():
    vendor = FakeArk().start()
    yield vendor
    vendor.stop()


def _entry(fake: FakeArk, name: str, model: str | None = None) -> dict[str, Any]:
    return {"name": name, "provider": "doubao", "model": model or name, "base_url": fake.base_url,
            "api_key": fake.api_key}


@pytest.fixture
def gateway(relayport_gateway, fake):
    return relayport_gateway({"auth": {"keys": [GATEWAY_KEY]},
                              "models": [_entry(fake, MODEL), _entry(fake, "my-endpoint", ENDPOINT)]}, env={})


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


def _post(gw, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {GATEWAY_KEY}"})


# ---------------------------------------------------------------------------- understanding


def test_seed_001_video_understanding_request_with_thinking(gateway, fake):
    fake.queue_text(SEED["answer"], reasoning="The clip shows a browser search.", usage=fake.usage(6871, 87))
    r = _post(gateway, SEED["request"])
    assert r.status_code == 200, r.text
    body = r.json()
    openapi.validate_chat_completion(body)
    message = body["choices"][0]["message"]
    assert message["content"] == SEED["answer"]
    assert message["reasoning_content"] == "The clip shows a browser search."
    assert body["usage"]["total_tokens"] == 6958
    sent = fake.last.json()
    assert sent["messages"] == SEED["request"]["messages"]  # Ark takes OpenAI's video_url part as is
    assert sent["thinking"] == {"type": "enabled"} and sent["model"] == MODEL


def test_media_arrays_become_ark_parts_and_files_are_refused(gateway, fake):
    r = _post(gateway, {
        "model": MODEL, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "compare"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
            {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4", "fps": 2}}]}],
        "images": ["https://example.com/b.jpg"], "videos": ["https://example.com/b.mp4"],
        "voices": ["https://example.com/c.wav"]})
    assert r.status_code == 200, r.text
    parts = fake.last.json()["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}}
    assert parts[2] == {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4", "fps": 2}}
    assert {"type": "image_url", "image_url": {"url": "https://example.com/b.jpg"}} in parts
    assert {"type": "video_url", "video_url": {"url": "https://example.com/b.mp4"}} in parts
    assert {"type": "input_audio", "audio_url": {"url": "https://example.com/c.wav", "format": "wav"}} in parts
    sent = len(fake.requests)
    r = _post(gateway, {"model": MODEL, "messages": [{"role": "user", "content": "summarise"}],
                        "file_urls": ["https://example.com/report.pdf"]})
    assert r.status_code == 400
    openapi.validate_error(r.json())
    assert "does not take files" in r.json()["error"]["message"]
    assert len(fake.requests) == sent  # refused before any call


# ---------------------------------------------------------------------------- thinking


@pytest.mark.parametrize(("extra", "thinking", "effort"), [
    ({"enable_thinking": True}, {"type": "enabled"}, None),
    ({"enable_thinking": False}, {"type": "disabled"}, None),
    ({"thinking": {"type": "auto"}}, {"type": "auto"}, None),
    ({"reasoning_effort": "minimal"}, None, "minimal"),
    ({"reasoning_effort": "xhigh", "thinking": {"type": "enabled"}}, {"type": "enabled"}, "high"),
    ({"reasoning_effort": "none"}, {"type": "disabled"}, None),
])
def test_thinking_in_arks_words(gateway, fake, extra, thinking, effort):
    r = _post(gateway, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra})
    assert r.status_code == 200, r.text
    sent = fake.last.json()
    assert sent.get("thinking") == thinking
    assert sent.get("reasoning_effort") == effort
    assert "enable_thinking" not in sent


def test_unsupported_controls_are_announced(gateway, fake):
    r = _post(gateway, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                        "enable_thinking": True, "thinking_budget": 2048, "enable_search": True})
    assert r.status_code == 200, r.text
    told = r.headers["x-relayport-adjustments"]
    assert "thinking_budget ignored" in told and "enable_search ignored" in told
    sent = fake.last.json()
    assert "thinking_budget" not in sent and "enable_search" not in sent


# ---------------------------------------------------------------------------- streams and tools


def test_stream_with_reasoning_and_tools_passes_through(gateway, fake):
    calls = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "ark"}'}}]
    fake.queue_text("", reasoning="Need a lookup.", tool_calls=calls, usage=fake.usage(30, 12, cached=16, reasoning=5))
    with httpx.stream("POST", gateway.openai_base_url + "/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
                      json={"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
                            "tools": [{"type": "function", "function": {"name": "lookup"}}],
                            "messages": [{"role": "user", "content": "find ark"}]}) as r:
        raw = r.read()
    datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert datas[-1] == b"[DONE]"
    chunks = [orjson.loads(d) for d in datas[:-1]]
    for chunk in chunks:
        openapi.validate_chat_chunk(chunk)
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
    assert reasoning == "Need a lookup."
    call = next(c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
                if c["choices"] and c["choices"][0]["delta"].get("tool_calls"))
    assert call["function"]["arguments"] == '{"q": "ark"}'
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 16


@pytest.mark.parametrize("error_event", [False, True])
def test_error_inside_the_stream_reaches_the_openai_client(gateway, fake, error_event):
    fake.queue_text("one two three four", fail_after=2, error_event=error_event)
    seen = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in _client(gateway).chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True):
            seen += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert seen == "one"  # what came before the failure, and nothing after it
    assert "failed during generation" in info.value.message


def test_error_events_keep_their_status_when_translated():
    parser = ArkStreamParser(COMPAT)
    data = (b'data: {"id":"1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
            b'[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}\n\n'
            b'event: error\ndata: {"error":{"code":"RateLimitExceeded.EndpointTPMExceeded",'
            b'"message":"TPM exceeded","param":"","type":"TooManyRequests"}}\n\n')
    events = parser.feed_sse(data)
    assert TextDelta("partial") in events
    assert isinstance(events[-1], StreamError)
    error = events[-1].error
    assert error.status == 429 and error.code == "RateLimitExceeded.EndpointTPMExceeded"
    assert parser.done


# ---------------------------------------------------------------------------- endpoints and errors


def test_endpoint_ids_are_model_ids(relayport_gateway, gateway, fake):
    reply = _client(gateway).chat.completions.create(model="my-endpoint", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "echo: hi"
    assert fake.last.json()["model"] == ENDPOINT
    # Without configuration an `ep-...` name routes to Ark when its key is set.
    bare = relayport_gateway({}, env={"ARK_API_KEY": "ark-key"})
    r = httpx.get(bare.openai_base_url + "/models/" + ENDPOINT, timeout=10)
    assert r.status_code == 200 and r.json()["owned_by"] == "doubao"


@pytest.mark.parametrize(("status", "code", "want_code", "retried"), [
    (429, "RateLimitExceeded.EndpointRPMExceeded", "RateLimitExceeded.EndpointRPMExceeded", True),
    (429, "QuotaExceeded", "QuotaExceeded", False),
    (403, "AccountOverdueError", "AccountOverdueError", False),
    (400, "InputTextSensitiveContentDetected", "content_filter", False),
])
def test_ark_errors_keep_status_and_retry_only_what_can_pass(relayport_gateway, status, code, want_code, retried):
    first, second = FakeArk().start(), FakeArk().start()
    try:
        gw = relayport_gateway({"models": [_entry(first, "m", MODEL), _entry(second, "m", MODEL)],
                                "router": {"max_attempts": 2}}, env={})
        first.push(first.error_reply(status, "Ark says no.", code))
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key="x", max_retries=0)
        if retried:
            assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            assert len(second.requests) == 1
            return
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert info.value.status_code == status
        envelope = orjson.loads(info.value.response.content)
        openapi.validate_error(envelope)
        assert envelope["error"]["code"] == want_code
        assert "Ark says no." in envelope["error"]["message"]
        assert not second.requests
    finally:
        first.stop()
        second.stop()


def test_model_id_access_disabled_says_to_use_an_endpoint(gateway, fake):
    fake.push(fake.error_reply(404, "Model id access is disabled for this account.",
                               "InvalidEndpointOrModel.ModelIDAccessDisabled"))
    with pytest.raises(openai.NotFoundError) as info:
        _client(gateway).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert "ep-" in info.value.message
