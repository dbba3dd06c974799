"""Anthropic clients reach the vendors' own Anthropic-compatible endpoints, untranslated.

DeepSeek, GLM, Kimi, Qwen (DashScope) and MiniMax serve Anthropic's Messages API beside their
OpenAI one; their plugins declare it (`ProviderSpec.anthropic`) and the Messages surface of
relayport-anthropic forwards `/v1/messages` there. Each fake is one vendor host serving both
APIs with that vendor's rules (path, key header, content it takes), so a call that goes to the
wrong API, with the wrong header or in the wrong shape fails. Needs several plugins at once,
so it lives with the whole-suite tests.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from relayport.testing.fakes import FakeOpenAI
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_anthropic.testing import anthropic_error
from relayport_anthropic.testing_compat import (
    DASHSCOPE,
    DEEPSEEK,
    GLM,
    KIMI,
    MINIMAX_CN,
    FakeAnthropicCompat,
    VendorRules,
    sent_json,
)

GATEWAY_KEY = "sk-gateway-anthcompat"
VENDOR_KEY = "sk-vendor-anthcompat"
PLUGINS = "anthropic,deepseek,zhipu,moonshot,dashscope,minimax"

# (gateway model name, provider, vendor model id, the vendor's rules)
VENDORS = {
    "ds": ("deepseek", "deepseek-chat", DEEPSEEK),
    "glm": ("zhipu", "glm-4.6", GLM),
    "kimi": ("moonshot", "kimi-k2.6", KIMI),
    "qwen": ("dashscope", "qwen-plus", DASHSCOPE),
    "mm": ("minimax-cn", "MiniMax-M2.7", MINIMAX_CN),
}
AUTH = {"ds": "x-api-key", "glm": "x-api-key", "kimi": "bearer", "qwen": "x-api-key", "mm": "bearer"}


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeAnthropicCompat]]:
    started = {name: FakeAnthropicCompat(rules, api_key=VENDOR_KEY).start()
               for name, (_, _, rules) in VENDORS.items()}
    yield started
    for fake in started.values():
        fake.stop()


def _model(name: str, fake: FakeAnthropicCompat, **extra: Any) -> dict[str, Any]:
    provider, model, _ = VENDORS[name]
    # base_url as each vendor's OpenAI SDK is given it: the Anthropic URL is derived from it.
    return {"name": name, "provider": provider, "model": model, "base_url": fake.openai_base_url,
            "api_key": VENDOR_KEY, **extra}


def _start(models: list[dict[str, Any]]) -> GatewayHandle:
    config = {"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]}, "models": models}
    return start_gateway(config, env={"RELAYPORT_LOAD_PLUGINS": PLUGINS})


@pytest.fixture
def gateway(fakes: dict[str, FakeAnthropicCompat]) -> Iterator[GatewayHandle]:
    handle = _start([_model(name, fake) for name, fake in fakes.items()])
    yield handle
    handle.stop()


@pytest.fixture
def client(gateway: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.mark.parametrize("name", list(VENDORS))
def test_a_message_goes_to_the_vendors_anthropic_endpoint(
        client: anthropic.Anthropic, fakes: dict[str, FakeAnthropicCompat], name: str) -> None:
    fake = fakes[name]
    fake.queue_turn([{"type": "thinking", "thinking": "Six times seven."}, {"type": "text", "text": "42"}],
                    usage={"input_tokens": 21, "output_tokens": 9})
    raw = client.messages.with_raw_response.create(
        model=name, max_tokens=2000, system="Be brief.", thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "6 x 7?"}])
    msg = raw.parse()
    assert [b.type for b in msg.content] == ["thinking", "text"] and msg.content[1].text == "42"
    assert msg.usage.input_tokens == 21 and msg.usage.output_tokens == 9
    assert not fake.openai_requests()
    [sent] = fake.anthropic_requests()
    assert sent.path == fake.rules.prefix + "/v1/messages"
    body = sent_json(sent)
    # The client's body as it was, with the vendor's model id.
    assert body == {"model": VENDORS[name][1], "max_tokens": 2000, "system": "Be brief.",
                    "thinking": {"type": "enabled", "budget_tokens": 1024},
                    "messages": [{"role": "user", "content": "6 x 7?"}]}
    if AUTH[name] == "bearer":
        assert sent.headers["authorization"] == f"Bearer {VENDOR_KEY}" and "x-api-key" not in sent.headers
    else:
        assert sent.headers["x-api-key"] == VENDOR_KEY and "authorization" not in sent.headers
    assert sent.headers["anthropic-version"]  # the SDK's own version goes along
    assert GATEWAY_KEY not in str(sent.headers)


@pytest.mark.parametrize("name", list(VENDORS))
def test_streams_come_back_byte_for_byte(gateway: GatewayHandle, fakes: dict[str, FakeAnthropicCompat],
                                         name: str) -> None:
    fake = fakes[name]
    fake.queue_turn([{"type": "thinking", "thinking": "Look it up."},
                     {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}])
    body = {"model": name, "max_tokens": 500, "stream": True,
            "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    resp = httpx.post(gateway.url + "/v1/messages", json=body, timeout=10,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert fake.last_stream and resp.content == fake.last_stream


def test_the_sdk_reads_a_passed_through_stream(client: anthropic.Anthropic,
                                               fakes: dict[str, FakeAnthropicCompat]) -> None:
    fakes["mm"].queue_turn([{"type": "text", "text": "streamed from MiniMax"}],
                           usage={"input_tokens": 5, "output_tokens": 4})
    with client.messages.stream(model="mm", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "streamed from MiniMax"
    assert final.usage.output_tokens == 4 and final.stop_reason == "end_turn"


@pytest.mark.parametrize("name", list(VENDORS))
def test_vendor_errors_keep_status_in_anthropics_envelope(
        gateway: GatewayHandle, fakes: dict[str, FakeAnthropicCompat], name: str) -> None:
    fakes[name].push(anthropic_error(429, "Rate limit reached for requests", "rate_limit_error"))
    resp = httpx.post(gateway.url + "/v1/messages", timeout=10,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"},
                      json={"model": name, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 429
    err = resp.json()
    assert err["type"] == "error" and err["error"]["type"] == "rate_limit_error"
    assert "Rate limit reached" in err["error"]["message"]
    assert VENDOR_KEY not in resp.text


def test_the_sdk_raises_a_vendor_refusal(client: anthropic.Anthropic, fakes: dict[str, FakeAnthropicCompat]) -> None:
    # DeepSeek's refusal of a thinking turn replayed without its thinking block (sdcb/chats#136).
    fakes["ds"].push(anthropic_error(400, "content[].thinking in the thinking mode must be passed back"))
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="ds", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 400 and "must be passed back" in info.value.message
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert len(fakes["ds"].anthropic_requests()) == 1


def test_a_stream_the_vendor_breaks_off_ends_with_an_error_event(
        client: anthropic.Anthropic, fakes: dict[str, FakeAnthropicCompat]) -> None:
    fakes["glm"].queue_turn([{"type": "text", "text": "one two three four five six"}], drop_after=4)
    with pytest.raises(anthropic.APIError), client.messages.stream(  # noqa: PT012 (raised while reading)
            model="glm", max_tokens=100, messages=[{"role": "user", "content": "count"}]) as s:
        for _ in s.text_stream:
            pass


def test_the_mainland_minimax_key_goes_as_bearer_not_x_api_key(
        client: anthropic.Anthropic, fakes: dict[str, FakeAnthropicCompat]) -> None:
    # The fake answers x-api-key as the mainland host does (500, system error 1033): the call
    # succeeding proves the gateway sent the key where MiniMax reads it.
    msg = client.messages.create(model="mm", max_tokens=10, messages=[{"role": "user", "content": "ping"}])
    assert msg.content[0].text == "echo: ping"
    assert fakes["mm"].anthropic_requests()[0].headers["authorization"] == f"Bearer {VENDOR_KEY}"


def test_fields_the_endpoint_ignores_are_announced(client: anthropic.Anthropic,
                                                   fakes: dict[str, FakeAnthropicCompat]) -> None:
    raw = client.messages.with_raw_response.create(
        model="ds", max_tokens=100, extra_body={"top_k": 5, "service_tier": "auto"},
        messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-relayport-adjustments"] == "ignored by deepseek's Anthropic endpoint: top_k service_tier"
    assert sent_json(fakes["ds"].anthropic_requests()[0])["top_k"] == 5


def test_max_tokens_is_held_to_the_models_limit(client: anthropic.Anthropic,
                                                fakes: dict[str, FakeAnthropicCompat]) -> None:
    # Claude Code asks for 32000; deepseek-chat gives 8192 (the plugin's table).
    raw = client.messages.with_raw_response.create(model="ds", max_tokens=32000, timeout=30,
                                                   messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-relayport-adjustments"] == "max_tokens clamped to 8192"
    assert sent_json(fakes["ds"].anthropic_requests()[0])["max_tokens"] == 8192


@pytest.mark.parametrize(("name", "asked", "sent", "said"), [
    ("mm", 0, 0.01, "temperature 0 clamped to 0.01"),  # MiniMax takes (0, 1]
    ("kimi", 1.0, 1.0, "temperature scaled by 0.6 at Kimi's Anthropic endpoint"),  # Kimi's own rule
])
def test_vendor_temperature_rules(client: anthropic.Anthropic, fakes: dict[str, FakeAnthropicCompat],
                                  name: str, asked: float, sent: float, said: str) -> None:
    raw = client.messages.with_raw_response.create(model=name, max_tokens=10, extra_body={"temperature": asked},
                                                   messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().content[0].text == "echo: hi"
    assert raw.headers["x-relayport-adjustments"] == said
    assert sent_json(fakes[name].anthropic_requests()[0])["temperature"] == sent


IMAGE = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}


def test_content_the_endpoint_does_not_take_is_translated(client: anthropic.Anthropic,
                                                          fakes: dict[str, FakeAnthropicCompat]) -> None:
    # Images are not on the compatible endpoints' lists: Kimi's vision model gets them through
    # its OpenAI API, translated.
    msg = client.messages.create(model="kimi", max_tokens=50, messages=[
        {"role": "user", "content": [IMAGE, {"type": "text", "text": "what is it?"}]}])
    assert msg.content[0].type == "text"
    fake = fakes["kimi"]
    assert not fake.anthropic_requests()
    [sent] = fake.openai_requests()
    assert sent.path == "/v1/chat/completions"
    parts = sent_json(sent)["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}} in parts


def test_the_openai_surface_is_unaffected(gateway: GatewayHandle, fakes: dict[str, FakeAnthropicCompat]) -> None:
    oai = openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
    reply = oai.chat.completions.create(model="ds", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    fake = fakes["ds"]
    assert not fake.anthropic_requests()
    [sent] = fake.openai_requests()
    assert sent.path == "/chat/completions" and sent.headers["authorization"] == f"Bearer {VENDOR_KEY}"


@pytest.fixture
def one_fake() -> Iterator[FakeAnthropicCompat]:
    fake = FakeAnthropicCompat(DEEPSEEK, api_key=VENDOR_KEY).start()
    yield fake
    fake.stop()


def _client(handle: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=handle.url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.mark.parametrize("options", [{"anthropic": False}, {}])
def test_opting_out_per_model_translates(one_fake: FakeAnthropicCompat, options: dict[str, Any]) -> None:
    # `anthropic = false`, or a model the vendor's endpoint does not list (deepseek-* only).
    model = _model("ds", one_fake, options=options) if options else {**_model("ds", one_fake), "model": "chat-x"}
    handle = _start([model])
    try:
        msg = _client(handle).messages.create(model="ds", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    finally:
        handle.stop()
    assert msg.content[0].text
    assert not one_fake.anthropic_requests() and len(one_fake.openai_requests()) == 1


def test_an_explicit_endpoint_overrides_the_derived_one(one_fake: FakeAnthropicCompat) -> None:
    other = FakeAnthropicCompat(VendorRules("mirror", "/mirror/anthropic"), api_key=VENDOR_KEY).start()
    handle = _start([_model("ds", one_fake, options={"anthropic_base_url": other.anthropic_base_url + "/v1"})])
    try:
        _client(handle).messages.create(model="ds", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    finally:
        handle.stop()
        other.stop()
    assert not one_fake.requests
    assert [r.path for r in other.anthropic_requests()] == ["/mirror/anthropic/v1/messages"]


def test_any_openai_compatible_server_may_name_its_anthropic_endpoint() -> None:
    # e.g. a vLLM that serves /v1/messages: the provider's own auth (Bearer) goes along.
    server = FakeAnthropicCompat(VendorRules("vllm", "", auth="bearer"), api_key=VENDOR_KEY).start()
    handle = _start([{"name": "local", "provider": "openai-compatible", "model": "Qwen/Qwen3-8B",
                      "base_url": server.url + "/v1", "api_key": VENDOR_KEY,
                      "options": {"anthropic_base_url": server.url}}])
    try:
        _client(handle).messages.create(model="local", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    finally:
        handle.stop()
        server.stop()
    [sent] = server.anthropic_requests()
    assert sent_json(sent)["model"] == "Qwen/Qwen3-8B" and sent.headers["authorization"] == f"Bearer {VENDOR_KEY}"


@pytest.mark.parametrize("proxy_key", [None, VENDOR_KEY])
def test_a_proxy_without_the_endpoint_is_translated_and_remembered(proxy_key: str | None) -> None:
    # base_url is a proxy that serves only the OpenAI API: /anthropic/... is its 404, or its 401
    # when it checks for its Bearer key first.
    proxy = FakeOpenAI(api_key=proxy_key).start()
    handle = _start([{"name": "ds", "provider": "deepseek", "model": "deepseek-chat", "base_url": proxy.url,
                      "api_key": VENDOR_KEY}])
    client = _client(handle)
    try:
        first = client.messages.create(model="ds", max_tokens=10, messages=[{"role": "user", "content": "one"}])
        second = client.messages.create(model="ds", max_tokens=10, messages=[{"role": "user", "content": "two"}])
    finally:
        handle.stop()
        proxy.stop()
    assert first.content[0].text and second.content[0].text
    assert [r.path for r in proxy.requests] == ["/anthropic/v1/messages", "/chat/completions", "/chat/completions"]


@pytest.mark.parametrize("translated", [False, True])
def test_a_failing_endpoint_falls_back_to_the_next_deployment(fakes: dict[str, FakeAnthropicCompat],
                                                              translated: bool) -> None:
    # One model name, two deployments: DeepSeek's endpoint is overloaded; GLM answers, through
    # its own Anthropic endpoint or (anthropic = false) translated to its OpenAI API.
    fakes["ds"].push(anthropic_error(529, "Overloaded", "overloaded_error"))
    glm = fakes["glm"]
    if translated:
        glm.openai.queue_text("from GLM")
    else:
        glm.queue_turn([{"type": "text", "text": "from GLM"}])
    second = {**_model("glm", glm), "name": "pair", "options": {"anthropic": not translated}}
    handle = _start([{**_model("ds", fakes["ds"]), "name": "pair"}, second])
    try:
        raw = _client(handle).messages.with_raw_response.create(
            model="pair", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    finally:
        handle.stop()
    assert raw.parse().content[0].text == "from GLM"
    assert raw.headers["x-relayport-attempts"] == "2"
    assert len(fakes["ds"].anthropic_requests()) == 1
    assert len(glm.openai_requests() if translated else glm.anthropic_requests()) == 1
    assert not (glm.anthropic_requests() if translated else glm.openai_requests())


def test_count_tokens_is_estimated_unless_the_vendor_counts(one_fake: FakeAnthropicCompat) -> None:
    counting = FakeAnthropicCompat(VendorRules("counting", "/anthropic", count_tokens=True), api_key=VENDOR_KEY).start()
    handle = _start([_model("ds", one_fake),
                     {**_model("ds", counting), "name": "ds-counts", "options": {"anthropic_count_tokens": True}}])
    client = _client(handle)
    messages = [{"role": "user", "content": "How many tokens is this?"}]
    try:
        estimated = client.messages.with_raw_response.count_tokens(model="ds", messages=messages)
        counted = client.messages.with_raw_response.count_tokens(model="ds-counts", messages=messages)
    finally:
        handle.stop()
        counting.stop()
    assert estimated.headers["x-relayport-adjustments"] == "token count estimated locally"
    assert not one_fake.requests
    assert "x-relayport-adjustments" not in counted.headers
    [sent] = counting.anthropic_requests()
    assert sent.path == "/anthropic/v1/messages/count_tokens"
    expected = max(1, len(orjson.dumps([None, sent_json(sent)["messages"], None])) // 4)
    assert counted.parse().input_tokens == expected


# ------------------------------------------------------------------ where the endpoint is


@functools.cache
def _providers() -> dict[str, Any]:
    from relayport.plugins import load_plugins

    return load_plugins({"RELAYPORT_LOAD_PLUGINS": PLUGINS}).providers


def _endpoint_url(spec: Any, model: str, base_url: str | None = None, **options: Any) -> str | None:
    from relayport.anthropic_endpoint import endpoint_for
    from relayport.provider import Deployment

    dep = Deployment("m", spec, model, base_url or spec.base_url, None, hooks=None, options=options)
    endpoint = endpoint_for(dep)
    return endpoint.base_url(dep) if endpoint is not None else None


@pytest.mark.parametrize(("provider", "model", "base_url", "expected"), [
    ("deepseek", "deepseek-chat", None, "https://api.deepseek.com/anthropic"),
    ("deepseek", "deepseek-chat", "https://api.deepseek.com/v1", "https://api.deepseek.com/anthropic"),
    ("deepseek", "deepseek-chat", "https://mirror.example/ds/v1/", "https://mirror.example/ds/anthropic"),
    ("zhipu", "glm-4.6", None, "https://open.bigmodel.cn/api/anthropic"),
    ("zhipu", "glm-4.7", "https://open.bigmodel.cn/api/coding/paas/v4", "https://open.bigmodel.cn/api/anthropic"),
    ("zai", "glm-5", None, "https://api.z.ai/api/anthropic"),
    ("zhipu", "glm-4.5v", None, None),  # vision models stay on the OpenAI API
    ("moonshot", "kimi-k2.6", None, "https://api.moonshot.cn/anthropic"),
    ("moonshot", "kimi-k2.6", "https://api.moonshot.ai/v1", "https://api.moonshot.ai/anthropic"),
    ("moonshot", "moonshot-v1-8k", None, None),
    ("dashscope", "qwen-plus", None, "https://dashscope.aliyuncs.com/apps/anthropic"),
    ("dashscope", "qwen3.6-plus", "https://dashscope-intl.aliyuncs.com/api/v1",
     "https://dashscope-intl.aliyuncs.com/apps/anthropic"),
    ("dashscope", "qwen-vl-max", None, None),
    ("minimax", "MiniMax-M2.7", None, "https://api.minimax.io/anthropic"),
    ("minimax-cn", "MiniMax-M2.7", None, "https://api.minimaxi.com/anthropic"),
    ("minimax", "abab6.5s-chat", None, None),
])
def test_the_endpoint_derives_from_the_configured_base_url(provider: str, model: str, base_url: str | None,
                                                           expected: str | None) -> None:
    spec = _providers()[provider].spec
    assert _endpoint_url(spec, model, base_url) == expected


def test_the_dashscope_region_option_picks_the_endpoints_host() -> None:
    from relayport_dashscope import DASHSCOPE

    assert _endpoint_url(DASHSCOPE, "qwen-max", region="intl") == "https://dashscope-intl.aliyuncs.com/apps/anthropic"


def test_options_switch_the_endpoint_per_model() -> None:
    from relayport_deepseek import DEEPSEEK

    assert _endpoint_url(DEEPSEEK, "deepseek-chat", anthropic=False) is None
    assert _endpoint_url(DEEPSEEK, "my-finetune", anthropic=True) == "https://api.deepseek.com/anthropic"
    assert _endpoint_url(DEEPSEEK, "deepseek-chat", anthropic_base_url="https://gw.example/ds/") == \
        "https://gw.example/ds"


@pytest.mark.parametrize(("options", "problem"), [
    ({"anthropic": "false"}, "options.anthropic: must be true or false"),
    ({"anthropic_count_tokens": 1}, "options.anthropic_count_tokens: must be true or false"),
    ({"anthropic_base_url": "api.deepseek.com/anthropic"}, "options.anthropic_base_url: 'api.deepseek.com/anthropic'"),
])
def test_wrong_options_are_config_errors(options: dict[str, Any], problem: str) -> None:
    from relayport.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as info:
        parse_config({"models": [{"name": "ds", "provider": "deepseek", "options": options}]})
    assert problem in str(info.value)


def test_deepseek_announces_the_ignored_budget_and_translates_structured_output(
        client: anthropic.Anthropic, fakes: dict[str, FakeAnthropicCompat]) -> None:
    fake = fakes["ds"]
    raw = client.messages.with_raw_response.create(
        model="ds", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-relayport-adjustments"] == \
        "ignored by deepseek's Anthropic endpoint: thinking.budget_tokens"
    # A schema it would ignore there: translated, the schema sent as an instruction.
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    fake.openai.queue_text('{"answer": "yes"}')
    raw = client.messages.with_raw_response.create(
        model="ds", max_tokens=100, extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
        messages=[{"role": "user", "content": "yes?"}])
    assert raw.parse().content[0].text == '{"answer": "yes"}'
    assert len(fake.anthropic_requests()) == 1
    [sent] = fake.openai_requests()
    assert sent_json(sent)["response_format"] == {"type": "json_object"}
    assert "json_schema sent as json_object" in raw.headers["x-relayport-adjustments"]
