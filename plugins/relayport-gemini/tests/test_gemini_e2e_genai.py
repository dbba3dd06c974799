"""End to end: the official `google-genai` SDK -> the gateway's Gemini surface -> a Gemini model
(passed through) or a non-Gemini model (translated; an OpenAI-compatible fake stands in for
DeepSeek and the like), on both API versions the SDK speaks."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from gemini_helpers import GATEWAY_KEY, GEMINI_KEY, OPENAI_KEY
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from relayport import hookimpl
from relayport.openai_compat import OpenAICompat
from relayport.provider import ProviderSpec
from relayport.testing.fakes import FakeOpenAI
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_gemini.testing import FakeGemini

pytest_plugins = ("gemini_fixtures",)  # fixtures shared without a conftest.py (see there why)


class CompatVendor:
    """A stand-in OpenAI-compatible vendor plugin (DeepSeek-like), so no other vendor package is needed."""

    @hookimpl
    def relayport_register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(ProviderSpec(name="compat", base_url="https://compat.invalid/v1", key_env=("COMPAT_KEY",),
                              openai_compat=OpenAICompat()))


@pytest.fixture
def fake_compat() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key=OPENAI_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def gw(fake_gemini: FakeGemini, fake_compat: FakeOpenAI) -> Iterator[GatewayHandle]:
    config: dict[str, Any] = {
        "server": {"state_path": ":memory:"},
        "auth": {"keys": [GATEWAY_KEY]},
        "models": [
            {"name": "gemini-flash", "provider": "gemini", "model": "gemini-2.5-flash",
             "base_url": fake_gemini.base_url, "api_key": GEMINI_KEY},
            {"name": "gemini-3", "provider": "gemini", "model": "gemini-3-pro-preview",
             "base_url": fake_gemini.base_url, "api_key": GEMINI_KEY},
            {"name": "deepseek-chat", "provider": "compat", "model": "deepseek-chat",
             "base_url": fake_compat.base_url, "api_key": OPENAI_KEY},
        ],
    }
    handle = start_gateway(config, env={"RELAYPORT_LOAD_PLUGINS": "gemini,compat"},
                           extra_plugins={"compat": CompatVendor()})
    yield handle
    handle.stop()


def client(gw: GatewayHandle, version: str = "v1beta") -> genai.Client:
    return genai.Client(api_key=GATEWAY_KEY, http_options=types.HttpOptions(base_url=gw.url, api_version=version))


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_gemini_model_passes_through(gw: GatewayHandle, fake_gemini: FakeGemini, version: str) -> None:
    c = client(gw, version)
    resp = c.models.generate_content(model="gemini-flash", contents="hello there",
                                     config=types.GenerateContentConfig(temperature=0.2, top_k=3))
    assert resp.text == "echo: hello there"
    sent = fake_gemini.last
    assert sent.path == f"/{'v1beta'}/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY  # the vendor key, never the gateway's
    assert sent.json()["generationConfig"] == {"temperature": 0.2, "topK": 3}
    assert resp.usage_metadata.prompt_token_count > 0
    chunks = list(c.models.generate_content_stream(model="gemini-flash", contents="one two"))
    assert "".join(ch.text or "" for ch in chunks) == "echo: one two"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert fake_gemini.last.query == {"alt": "sse"}
    assert c.models.count_tokens(model="gemini-flash", contents="a b c").total_tokens == 6


def test_passthrough_keeps_thought_signatures(gw: GatewayHandle, fake_gemini: FakeGemini) -> None:
    """A Gemini client replays Gemini 3's signed parts itself; passthrough forwards them intact."""
    fake_gemini.queue_turn([{"functionCall": {"name": "f", "args": {"x": 1}}}])
    c = client(gw)
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="f", parameters=types.Schema(type=types.Type.OBJECT, properties={"x": types.Schema(type=types.Type.INTEGER)}))])
    config = types.GenerateContentConfig(tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    first = c.models.generate_content(model="gemini-3", contents="go", config=config)
    call_part = first.candidates[0].content.parts[0]
    assert call_part.function_call.name == "f" and call_part.thought_signature
    history = [types.Content(role="user", parts=[types.Part(text="go")]), first.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(name="f", response={"ok": True})])]
    c.models.generate_content(model="gemini-3", contents=history, config=config)
    replayed = fake_gemini.last.json()["contents"][1]["parts"][0]["thoughtSignature"]
    assert base64.urlsafe_b64decode(replayed) == call_part.thought_signature


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_other_vendor_is_translated(gw: GatewayHandle, fake_compat: FakeOpenAI, version: str) -> None:
    c = client(gw, version)
    resp = c.models.generate_content(
        model="deepseek-chat", contents="hello there",
        config=types.GenerateContentConfig(system_instruction="be nice", max_output_tokens=40, stop_sequences=["x"]))
    assert resp.text == "echo: hello there"
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.usage_metadata.prompt_token_count == 12 and resp.usage_metadata.candidates_token_count == 7
    sent = fake_compat.last.json()
    assert sent["messages"] == [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello there"}]
    assert sent["max_tokens"] == 40 and sent["stop"] == ["x"]
    chunks = list(c.models.generate_content_stream(model="deepseek-chat", contents="streamed words here"))
    assert "".join(ch.text or "" for ch in chunks) == "echo: streamed words here"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count == 19
    assert fake_compat.last.json()["stream_options"] == {"include_usage": True}


def test_tools_translated_both_ways(gw: GatewayHandle, fake_compat: FakeOpenAI) -> None:
    fake_compat.queue_text(tool_calls=[{"id": "call_abc", "type": "function",
                                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}])
    c = client(gw)
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="weather", description="Weather", parameters=types.Schema(
            type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}, required=["city"]))])
    config = types.GenerateContentConfig(
        tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")))
    resp = c.models.generate_content(model="deepseek-chat", contents="Paris?", config=config)
    call = resp.function_calls[0]
    assert (call.name, call.args, call.id) == ("weather", {"city": "Paris"}, "call_abc")
    sent = fake_compat.last.json()
    assert sent["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}
    assert sent["tool_choice"] == "required"
    history = [types.Content(role="user", parts=[types.Part(text="Paris?")]), resp.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(name="weather",
                                                                                   response={"result": "sunny"})])]
    c.models.generate_content(model="deepseek-chat", contents=history, config=config)
    messages = fake_compat.last.json()["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_abc"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"}


def test_json_array_stream_without_alt_sse(gw: GatewayHandle, fake_gemini: FakeGemini) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "a b"}]}]}
    for model in ("gemini-flash", "deepseek-chat"):
        r = httpx.post(f"{gw.url}/v1beta/models/{model}:streamGenerateContent?key={GATEWAY_KEY}", json=body, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        chunks = orjson.loads(r.content)
        assert "".join(p.get("text", "") for ch in chunks for p in ch["candidates"][0]["content"]["parts"]) == "echo: a b"
        assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_models_and_errors(gw: GatewayHandle, fake_compat: FakeOpenAI) -> None:
    c = client(gw)
    names = [m.name for m in c.models.list()]
    assert names == ["models/gemini-flash", "models/gemini-3", "models/deepseek-chat"]
    assert c.models.get(model="deepseek-chat").display_name == "deepseek-chat"
    # The OpenAI SDK's path, with the OpenAI key style, still answers OpenAI's format.
    r = httpx.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
    assert r.json()["object"] == "list"
    with pytest.raises(genai_errors.ClientError) as info:
        c.models.generate_content(model="no-such-model", contents="x")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    fake_compat.push(fake_compat.error_reply(429, "slow down"))
    with pytest.raises(genai_errors.ClientError) as info:
        c.models.generate_content(model="deepseek-chat", contents="x")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED" and "slow down" in info.value.message
    with pytest.raises(genai_errors.APIError) as info2:
        c.models.count_tokens(model="deepseek-chat", contents="x")
    assert info2.value.code == 501
    bad = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=gw.url))
    with pytest.raises(genai_errors.ClientError) as info:
        bad.models.generate_content(model="gemini-flash", contents="x")
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"
    r = httpx.post(gw.url + "/v1beta/models/deepseek-chat:generateContent", params={"key": GATEWAY_KEY},
                   json={"contents": []})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
