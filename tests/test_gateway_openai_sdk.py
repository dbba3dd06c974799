"""End-to-end: the official openai SDK -> gateway -> fake vendors on loopback.

`gpt-test` is served by the OpenAI plugin (passthrough), `echo-test` by the example Echo
plugin (translated through the canonical model): every SDK call runs against both.
"""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from tests.fake_echo import ECHO_KEY

GW_KEY = "sk-gw-test"
MODELS = ["gpt-test", "echo-test"]


@pytest.fixture
def gw(relayport_gateway, fake_openai, fake_echo):
    return relayport_gateway(
        {
            "auth": {"keys": [GW_KEY]},
            "models": [
                {"name": "gpt-test", "provider": "openai", "model": "gpt-4o-mini",
                 "base_url": fake_openai.base_url, "api_key": fake_openai.api_key},
                {"name": "echo-test", "provider": "echo", "model": "echo-1",
                 "base_url": fake_echo.base_url, "api_key": ECHO_KEY},
            ],
        },
        env={},
    )


def expected_text(model: str, said: str) -> str:
    return f"echo: {said}" if model == "gpt-test" else f"you said {said}"


def sse_chunks(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]


@pytest.mark.parametrize("model", MODELS)
def test_sync_non_stream(gw, model):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    )
    openapi.validate_chat_completion(orjson.loads(raw.content))
    completion = raw.parse()
    assert completion.choices[0].message.content == expected_text(model, "hello there")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0


@pytest.mark.parametrize("model", MODELS)
async def test_async_non_stream(gw, model):
    client = openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    completion = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "async hi"}])
    assert completion.choices[0].message.content == expected_text(model, "async hi")
    await client.close()


@pytest.mark.parametrize("model", MODELS)
def test_sync_stream_with_usage(gw, model):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "stream me please"}], stream=True,
        stream_options={"include_usage": True},
    )
    text, finishes, usage, roles = "", [], None, []
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            text += delta.content or ""
            if delta.role:
                roles.append(delta.role)
            if chunk.choices[0].finish_reason:
                finishes.append(chunk.choices[0].finish_reason)
        if chunk.usage:
            usage = chunk.usage
    assert text == expected_text(model, "stream me please")
    assert finishes == ["stop"]
    assert roles == ["assistant"]
    assert usage is not None and usage.total_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_stream_bytes_match_openai_schema(gw, model):
    body = {"model": model, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "schema check"}]}
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", json=body, headers=gw.headers()) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    datas = sse_chunks(raw)
    assert datas[-1] == b"[DONE]" and datas.count(b"[DONE]") == 1
    for data in datas[:-1]:
        openapi.validate_chat_chunk(orjson.loads(data))
    assert raw.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("model", MODELS)
async def test_async_stream(gw, model):
    client = openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "async stream"}], stream=True)
    text = ""
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    assert text == expected_text(model, "async stream")
    await client.close()


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CALLS = [
    {"id": "call_a1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
    {"id": "call_b2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
]


def test_tools_non_stream(gw, fake_openai):
    fake_openai.queue_text("", tool_calls=CALLS)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL],
        tool_choice="required", parallel_tool_calls=True)
    openapi.validate_chat_completion(orjson.loads(raw.content))
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls] == [
        ("call_a1", "get_weather", '{"city": "Paris"}'), ("call_b2", "get_weather", '{"city": "Oslo"}')]
    sent = fake_openai.last.json()
    assert sent["tools"] == [WEATHER_TOOL] and sent["tool_choice"] == "required"
    # The tool round trip: results go back with their call ids.
    fake_openai.queue_text("Paris 20C, Oslo 5C")
    followup = client.chat.completions.create(model="gpt-test", tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "weather?"},
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_a1", "content": "20C"},
        {"role": "tool", "tool_call_id": "call_b2", "content": "5C"},
    ])
    assert followup.choices[0].message.content == "Paris 20C, Oslo 5C"
    assert [m.get("tool_call_id") for m in fake_openai.last.json()["messages"][2:]] == ["call_a1", "call_b2"]


def test_tools_stream_deltas(gw, fake_openai):
    fake_openai.queue_text("", tool_calls=CALLS)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "w"}],
                                                tools=[WEATHER_TOOL], stream=True):
        for d in chunk.choices[0].delta.tool_calls or ():
            call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += d.id or ""
            call["name"] += (d.function.name or "") if d.function else ""
            call["arguments"] += (d.function.arguments or "") if d.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert calls == {0: {"id": "call_a1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
                     1: {"id": "call_b2", "name": "get_weather", "arguments": '{"city": "Oslo"}'}}


def test_reasoning_content_passes_through(gw, fake_openai):
    fake_openai.queue_text("4", reasoning="2+2 is 4")
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    message = client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "2+2"}]).choices[0].message
    assert message.reasoning_content == "2+2 is 4"
    fake_openai.queue_text("4", reasoning="2+2 is 4")
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or ""
        for c in client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "2+2"}], stream=True)
        if c.choices)
    assert reasoning == "2+2 is 4"


def test_passthrough_forwards_the_body_with_only_the_model_changed(gw, fake_openai):
    body = {
        "model": "gpt-test",
        "messages": [
            {"role": "developer", "content": "terse"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            ]},
        ],
        "temperature": 0.2, "logit_bias": {"50256": -100}, "seed": 7, "metadata": {"team": "x"},
        "steam": False,  # a typo one aggregator's own docs send: unknown fields must not break a call
    }
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=body, headers=gw.headers())
    assert r.status_code == 200, r.text
    assert fake_openai.last.json() == {**body, "model": "gpt-4o-mini"}
    assert fake_openai.last.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert GW_KEY not in fake_openai.last.body.decode() and GW_KEY not in str(fake_openai.last.headers)


def test_models_list_and_lookup(gw):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    raw = httpx.get(gw.openai_base_url + "/models", headers=gw.headers())
    openapi.validate_models_list(raw.json())
    assert {m.id: m.owned_by for m in client.models.list()} == {"gpt-test": "openai", "echo-test": "echo"}
    model = client.models.retrieve("echo-test")
    assert model.id == "echo-test"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_healthz_needs_no_key(gw):
    r = httpx.get(gw.url + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_provider_slash_model_addressing(relayport_gateway, fake_openai, monkeypatch):
    """`deepseek/deepseek-chat` style names work when the plugin is installed and its key set."""
    gw = relayport_gateway({"models": []}, env={"OPENAI_API_KEY": fake_openai.api_key})
    # The default base URL is OpenAI's; point the dynamic deployment at the fake for the test.
    router = gw.server.app[__import__("relayport.server.keys", fromlist=["ROUTER"]).ROUTER]
    dep = router.resolve("openai/gpt-4o-mini")[0]
    dep.base_url = fake_openai.base_url
    r = httpx.post(gw.openai_base_url + "/chat/completions",
                   json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200, r.text
    assert fake_openai.last.json()["model"] == "gpt-4o-mini"
    r = httpx.post(gw.openai_base_url + "/chat/completions",
                   json={"model": "deepseek/deepseek-chat", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404
    assert "DEEPSEEK_API_KEY" in r.json()["error"]["message"]
