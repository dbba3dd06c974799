"""Vendor quirks of OpenAI-compatible servers, fixed on both paths (issue 8, issue 7 items 1/6/7).

Each quirk is played by `FakeOpenAI` with that quirk, served through the core's configurable
`openai-compatible` provider (quirk switches in the model's TOML `options`). OpenAI clients are
passed through (or translated where the base chooses to, as for `<think>` tags); Anthropic
clients on /v1/messages are always translated. What the clients receive is checked with the
official SDKs and against OpenAI's published schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from relayport import hookimpl
from relayport.model import Thinking
from relayport.model.stream import TextDelta
from relayport.openai_compat import OpenAICompat, OpenAIStreamParser, apply_thinking
from relayport.testing import openapi
from relayport.testing.fakes import FakeOpenAI
from tests import acme_plugin

GW_KEY = "sk-gw-quirks"
REASONING = "first think, then answer"
TEXT = "the answer is 42"

# name: (FakeOpenAI options, the model's TOML options)
QUIRKS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "reasoning-field": ({"reasoning_field": "reasoning"}, {"reasoning_field": "reasoning"}),
    "think-tags": ({"think_tags": True}, {"think_tags": True}),
    "usage-in-choice": ({"usage_placement": "choice"}, {"usage_in_choices": True}),
    "usage-last-chunk": ({"usage_placement": "last_chunk"}, {"stream_usage": "always"}),
    "usage-every-chunk": ({"usage_placement": "every_chunk"}, {"stream_usage": "always"}),
    "finish-and-bare": ({"finish_spellings": {"stop": "eos"}, "open_finish": "null", "bare": True},
                        {"finish_map": {"eos": "stop"}, "fill_missing": True}),
}


@pytest.fixture(params=sorted(QUIRKS))
def quirk(request, relayport_gateway) -> Iterator[tuple[FakeOpenAI, Any]]:
    fake_opts, options = QUIRKS[request.param]
    fake = FakeOpenAI(api_key=None, **fake_opts)
    fake.start()
    gw = relayport_gateway({
        "auth": {"keys": [GW_KEY]},
        "models": [{"name": "quirky", "provider": "openai-compatible", "model": "local-model",
                    "base_url": fake.base_url, "options": options}],
    }, env={})
    yield fake, gw
    fake.stop()


def sse_objects(raw: bytes) -> list[Any]:
    out = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


def test_openai_sdk_non_stream(quirk):
    fake, gw = quirk
    fake.queue_text(TEXT, reasoning=REASONING)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="quirky", messages=[{"role": "user", "content": "q"}])
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    completion = raw.parse()
    message = completion.choices[0].message
    assert message.content == TEXT
    assert message.reasoning_content == REASONING  # type: ignore[attr-defined]
    assert "reasoning" not in body["choices"][0]["message"]
    assert completion.choices[0].finish_reason == "stop"
    assert "usage" not in body["choices"][0]
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 7)


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_sdk_stream(quirk, include_usage):
    fake, gw = quirk
    fake.queue_text(TEXT, reasoning=REASONING)
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    # The raw bytes, every chunk checked against OpenAI's schema ...
    raw = httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {GW_KEY}"},
                     json={"model": "quirky", "messages": [{"role": "user", "content": "q"}], "stream": True,
                           **extra}).content
    chunks = sse_objects(raw)
    assert chunks[-1] == "[DONE]" and chunks.count("[DONE]") == 1
    for chunk in chunks[:-1]:
        openapi.validate_chat_chunk(chunk)
        assert all("usage" not in c and "reasoning" not in (c.get("delta") or {}) for c in chunk["choices"])
        assert all(c.get("finish_reason") in (None, "stop") for c in chunk["choices"])
    with_usage = [c for c in chunks[:-1] if c.get("usage")]
    if include_usage:
        # OpenAI's shape: one usage chunk, the last one, with empty choices.
        assert with_usage == [chunks[-2]] and chunks[-2]["choices"] == []
        assert chunks[-2]["usage"]["completion_tokens"] == 7
    else:
        assert with_usage == []
    # ... and what the SDK makes of them.
    fake.queue_text(TEXT, reasoning=REASONING)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    text = reasoning = ""
    finishes, usages = [], []
    for chunk in client.chat.completions.create(model="quirky", messages=[{"role": "user", "content": "q"}],
                                                stream=True, **extra):
        if chunk.usage:
            usages.append(chunk.usage)
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
    assert (reasoning, text, finishes) == (REASONING, TEXT, ["stop"])
    assert [u.completion_tokens for u in usages] == ([7] if include_usage else [])


def test_anthropic_sdk_translated(quirk):
    fake, gw = quirk
    client = anthropic.Anthropic(base_url=gw.url, api_key=GW_KEY, max_retries=0)
    fake.queue_text(TEXT, reasoning=REASONING)
    message = client.messages.create(model="quirky", max_tokens=100, messages=[{"role": "user", "content": "q"}])
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in message.content] == [
        ("thinking", REASONING), ("text", TEXT)]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)
    fake.queue_text(TEXT, reasoning=REASONING)
    thinking = text = ""
    with client.messages.stream(model="quirky", max_tokens=100, messages=[{"role": "user", "content": "q"}]) as s:
        for event in s:
            if event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                thinking += event.delta.thinking
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
        final = s.get_final_message()
    assert (thinking, text) == (REASONING, TEXT)
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7


# ------------------------------------------------------------------ request direction


def test_history_reasoning_goes_back_in_the_vendors_field(relayport_gateway):
    fake = FakeOpenAI(api_key=None, reasoning_field="reasoning").start()
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "r", "provider": "openai-compatible", "base_url": fake.base_url,
         "options": {"reasoning_field": "reasoning", "drop_fields": ["user"]}},
        {"name": "strip", "provider": "openai-compatible", "base_url": fake.base_url,
         "options": {"replay_reasoning": False}},
        {"name": "r-translated", "provider": "openai-compatible", "base_url": fake.base_url,
         "options": {"reasoning_field": "reasoning", "passthrough": False}},
    ]}, env={})
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    history = [{"role": "user", "content": "a"},
               {"role": "assistant", "content": "b", "reasoning_content": "why b"},
               {"role": "user", "content": "c"}]
    for stream in (False, True):
        client.chat.completions.create(model="r", messages=history, user="u1", stream=stream)  # type: ignore[arg-type]
        sent = fake.last.json()
        assert sent["messages"][1] == {"role": "assistant", "content": "b", "reasoning": "why b"}
        assert "user" not in sent
    client.chat.completions.create(model="strip", messages=history)  # type: ignore[arg-type]
    assert fake.last.json()["messages"][1] == {"role": "assistant", "content": "b"}
    # The translated path (the canonical model re-encoded) sends it back the same way.
    client.chat.completions.create(model="r-translated", messages=history)  # type: ignore[arg-type]
    sent = fake.last.json()["messages"][1]
    assert sent["reasoning"] == "why b" and "reasoning_content" not in sent
    fake.stop()


def test_think_tags_split_across_any_chunk_boundary():
    from relayport.compat.quirks import ThinkSplitter

    whole = "<think>a < b, so</think>\nthe <think> stays text"
    for size in range(1, len(whole) + 1):
        splitter = ThinkSplitter()
        reasoning = content = ""
        for i in range(0, len(whole), size):
            r, c = splitter.feed(whole[i:i + size])
            reasoning, content = reasoning + r, content + c
        r, c = splitter.flush()
        assert (reasoning + r, content + c) == ("a < b, so", "the <think> stays text"), size


# ------------------------------------------------------------------ DeepSeek: limits, fields, schema


@pytest.fixture
def deepseek(relayport_gateway):
    fake = FakeOpenAI(usage_style="deepseek").start()
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "deepseek-chat", "provider": "deepseek", "base_url": fake.base_url, "api_key": fake.api_key},
        {"name": "ds-small", "provider": "deepseek", "model": "deepseek-chat", "base_url": fake.base_url,
         "api_key": fake.api_key, "options": {"max_output_tokens": 100}},
    ]}, env={})
    yield fake, gw
    fake.stop()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_deepseek_gets_max_tokens_clamped_on_passthrough(deepseek, field, stream):
    fake, gw = deepseek
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "hi"}], stream=stream, **{field: 32000})
    sent = fake.last.json()
    assert sent["max_tokens"] == 8192 and "max_completion_tokens" not in sent
    assert raw.headers["x-relayport-adjustments"] == "max_tokens clamped to 8192"
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "hi"}],
                                   **{field: 500})
    assert fake.last.json()["max_tokens"] == 500
    client.chat.completions.create(model="ds-small", messages=[{"role": "user", "content": "hi"}], **{field: 500})
    assert fake.last.json()["max_tokens"] == 100  # the TOML override wins


def test_claude_code_max_tokens_on_messages_surface_is_clamped(deepseek):
    fake, gw = deepseek
    client = anthropic.Anthropic(base_url=gw.url, api_key=GW_KEY, max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="deepseek-chat", max_tokens=32000, messages=[{"role": "user", "content": "hi"}], timeout=30)
    assert fake.last.json()["max_tokens"] == 8192
    assert raw.headers["x-relayport-adjustments"] == "max_tokens clamped to 8192"
    assert raw.parse().content[0].text == "echo: hi"


def test_json_schema_downgraded_for_deepseek(deepseek):
    fake, gw = deepseek
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "where?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}})
    sent = fake.last.json()
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["messages"][0]["role"] == "system" and orjson.dumps(schema).decode() in sent["messages"][0]["content"]
    assert sent["messages"][1] == {"role": "user", "content": "where?"}
    assert "json_schema sent as json_object" in raw.headers["x-relayport-adjustments"]


# ------------------------------------------------------------------ config


def test_openai_compatible_needs_base_url(relayport_gateway):
    from relayport.config import ConfigError

    with pytest.raises(ConfigError, match="provider 'openai-compatible' needs base_url"):
        relayport_gateway({"models": [{"name": "x", "provider": "openai-compatible"}]}, env={})


def test_openai_compatible_without_key_sends_no_authorization(relayport_gateway):
    fake = FakeOpenAI(api_key=None).start()
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "local", "provider": "openai-compatible", "model": "qwen3:8b", "base_url": fake.base_url}]}, env={})
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    out = client.chat.completions.create(model="local", messages=[{"role": "user", "content": "hey"}])
    assert out.choices[0].message.content == "echo: hey"
    assert "authorization" not in fake.last.headers and fake.last.json()["model"] == "qwen3:8b"
    fake.stop()


# ------------------------------------------------------------------ the Acme plugin (issue 8)


@pytest.fixture
def acme(relayport_gateway):
    fake = FakeOpenAI(reasoning_field="reasoning", usage_placement="choice").start()
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "acme-1", "provider": "acme", "base_url": fake.base_url, "api_key": fake.api_key}]},
        env={}, extra_plugins={"acme": acme_plugin})
    yield fake, gw
    fake.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_acme_plugin_through_the_openai_sdk(acme, stream):
    fake, gw = acme
    fake.queue_text(TEXT, reasoning=REASONING)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    if not stream:
        out = client.chat.completions.create(model="acme-1", messages=[{"role": "user", "content": "q"}])
        assert (out.choices[0].message.reasoning_content, out.usage.total_tokens) == (REASONING, 19)  # type: ignore[attr-defined]
        return
    reasoning, usage = "", None
    for chunk in client.chat.completions.create(model="acme-1", messages=[{"role": "user", "content": "q"}],
                                                stream=True, stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
    assert reasoning == REASONING and usage is not None and usage.total_tokens == 19


# ------------------------------------------------------------------ plugins that take over (issue 8 items 3, 4)


class _TranslatingPlugin:
    """Returns None from passthrough (= translate) and parses with its own stream parser."""

    fed = 0

    @staticmethod
    @hookimpl
    def relayport_register_providers(register):
        from relayport.provider import ProviderSpec

        register(ProviderSpec(name="own", base_url="http://unused.example/v1",
                              openai_compat=OpenAICompat()))

    @staticmethod
    @hookimpl
    def relayport_passthrough(deployment, surface, body, headers):
        return None

    @staticmethod
    @hookimpl
    def relayport_stream_parser(deployment, request):
        class Shouting(OpenAIStreamParser):
            def feed(self, event):
                _TranslatingPlugin.fed += 1
                return [TextDelta(e.text.upper()) if isinstance(e, TextDelta) else e
                        for e in super().feed(event)]

        return Shouting(OpenAICompat())

    @staticmethod
    @hookimpl
    def relayport_parse_response(deployment, request, response):
        from relayport.openai_compat import parse_response

        result = parse_response(OpenAICompat(), response)
        result.choices[0].message.content[0].text += " (own parser)"
        return result


def test_plugin_returning_none_from_passthrough_translates_with_its_own_parsers(relayport_gateway, fake_openai):
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "own-1", "provider": "own", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key}]}, env={}, extra_plugins={"own": _TranslatingPlugin})
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    out = client.chat.completions.create(model="own-1", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi (own parser)"
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="own-1", messages=[{"role": "user", "content": "hi there"}], stream=True) if c.choices)
    assert text == "ECHO: HI THERE" and _TranslatingPlugin.fed > 3


def test_passthrough_false_always_translates(relayport_gateway, fake_openai):
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": name, "provider": "openai-compatible", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key, "options": {"passthrough": name == "forwarded"}}
        for name in ("forwarded", "translated")]}, env={})

    def chunks(model: str) -> list[Any]:
        raw = httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {GW_KEY}"},
                         json={"model": model, "messages": [{"role": "user", "content": "hi"}],
                               "stream": True}).content
        return sse_objects(raw)[:-1]

    # The fake's chunks carry its system_fingerprint: forwarded bytes keep it, the gateway's
    # own encoder (translation) does not write one.
    assert all(c.get("system_fingerprint") == "fp_fake" for c in chunks("forwarded"))
    translated = chunks("translated")
    assert not any("system_fingerprint" in c for c in translated)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in translated if c["choices"]) == "echo: hi"
    for chunk in translated:
        openapi.validate_chat_chunk(chunk)


# ------------------------------------------------------------------ a vendor's own `adapt`


class Adapted:
    """A vendor whose `adapt` renames `user` to `end_user`, refuses `seed` and announces the
    thinking budget it cannot take: one function, run on both paths."""

    seen: list[tuple[bool, int | None, bool | None]] = []

    @staticmethod
    def adapt(body: dict[str, Any], call: Any) -> None:
        from relayport.model.errors import GatewayError

        Adapted.seen.append((call.translated, call.thinking.budget_tokens if call.thinking else None,
                             call.enable_search))
        if "seed" in body:
            raise GatewayError(400, "This vendor takes no seed.", param="seed")
        if "user" in body:
            body["end_user"] = body.pop("user")
        if call.thinking and call.thinking.budget_tokens is not None:
            call.adjustments.append("thinking budget dropped")

    @hookimpl
    def relayport_register_providers(self, register):
        from relayport.provider import ProviderSpec

        register(ProviderSpec(name="adapted", base_url="https://adapted.invalid/v1", key_env=("ADAPTED_KEY",),
                              openai_compat=OpenAICompat(adapt=Adapted.adapt)))


@pytest.fixture
def adapted(relayport_gateway):
    fake = FakeOpenAI(api_key=None).start()
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "ad", "provider": "adapted", "base_url": fake.base_url}]}, env={},
        extra_plugins={"adapted": Adapted()})
    Adapted.seen.clear()
    yield fake, gw
    fake.stop()


def test_adapt_runs_on_both_paths(adapted):
    fake, gw = adapted
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    raw = oa.chat.completions.with_raw_response.create(
        model="ad", user="u-1", messages=[{"role": "user", "content": "hi"}],
        extra_body={"thinking_budget": 512, "enable_search": True})
    # The vendor has no web search: enable_search is dropped, and said so (docs/tools.md).
    assert raw.headers["x-relayport-adjustments"] == ("enable_search ignored (no web search for this model), "
                                                      "thinking budget dropped")
    sent = fake.last.json()
    assert sent["end_user"] == "u-1" and "user" not in sent and "thinking_budget" not in sent
    assert Adapted.seen == [(False, 512, True)]  # read before the base folded them away

    an = anthropic.Anthropic(base_url=gw.url, api_key=GW_KEY, max_retries=0)
    raw2 = an.messages.with_raw_response.create(
        model="ad", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
        thinking={"type": "enabled", "budget_tokens": 1024}, metadata={"user_id": "u-2"})
    assert raw2.headers["x-relayport-adjustments"].endswith("thinking budget dropped")
    assert Adapted.seen[-1] == (True, 1024, None)

    with pytest.raises(openai.BadRequestError) as err:
        oa.chat.completions.create(model="ad", seed=7, messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["param"] == "seed"


@pytest.mark.parametrize(("thinking", "sent", "wire"), [
    ({"effort": "high"}, {}, {"effort": "high"}),
    ({"enabled": True, "budget_tokens": 2048}, {}, {"enabled": True, "max_tokens": 2048}),
    ({"enabled": True, "effort": "low", "budget_tokens": 2048}, {}, {"enabled": True, "effort": "low"}),
    ({"enabled": False, "effort": "low"}, {"exclude": True}, {"exclude": True, "enabled": False}),
])
def test_reasoning_object_thinking_style(thinking: dict[str, Any], sent: dict[str, Any],
                                         wire: dict[str, Any]) -> None:
    body: dict[str, Any] = {"reasoning": sent} if sent else {}
    apply_thinking(body, Thinking(**thinking), OpenAICompat(thinking="reasoning_object"))
    assert body["reasoning"] == wire
    assert sent == ({"exclude": True} if sent else {})  # the client's own object is not mutated


def test_empty_delta_role_is_dropped_only_on_chunks() -> None:
    normalizer = OpenAICompat(reasoning_field="reasoning").normalizer()
    assert normalizer is not None
    chunk = {"choices": [{"index": 0, "delta": {"role": "", "content": "x"}, "finish_reason": None}]}
    assert normalizer.fix(chunk, True) and chunk["choices"][0]["delta"] == {"content": "x"}
    chunk = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    assert not normalizer.fix(chunk, True) and chunk["choices"][0]["delta"] == {"role": "assistant"}
