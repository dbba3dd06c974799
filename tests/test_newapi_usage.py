"""`[server] usage_fields = "new-api"`: usage objects carry new-api's keys (seed 004 of the
aggregator docs) on every path an OpenAI chat client can take; off by default."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from relayport.wire.newapi_usage import add_fields

# The usage object of seed 004 (new-api), key for key.
SEED_KEYS = {
    "prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details",
    "output_tokens_details", "input_tokens", "output_tokens", "input_tokens_details",
    "claude_cache_creation_5_m_tokens", "claude_cache_creation_1_h_tokens",
}
DETAIL_KEYS = {
    "prompt_tokens_details": {"cached_tokens", "text_tokens", "audio_tokens", "image_tokens"},
    "completion_tokens_details": {"text_tokens", "audio_tokens", "reasoning_tokens"},
    "output_tokens_details": {"text_tokens", "audio_tokens", "reasoning_tokens"},
}
PATHS = [pytest.param({}, id="passthrough"), pytest.param({"options": {"passthrough": False}}, id="translated")]


def gateway(relayport_gateway: Any, fake: Any, fields: str | None, **model: Any) -> Any:
    server = {"usage_fields": fields} if fields else {}
    return relayport_gateway({"server": server, "models": [
        {"name": "m", "provider": "openai", "base_url": fake.base_url, "api_key": fake.api_key, **model}]}, env={})


def usage_of(gw: Any, stream: bool) -> dict[str, Any]:
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=body, timeout=10)
    assert r.status_code == 200, r.text
    if not stream:
        return r.json()["usage"]  # type: ignore[no-any-return]
    chunks = [orjson.loads(line[6:]) for line in r.content.split(b"\n") if line.startswith(b"data: {")]
    [usage] = [c["usage"] for c in chunks if c.get("usage")]
    return usage  # type: ignore[no-any-return]


@pytest.mark.parametrize("model", PATHS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_new_api_fields_on_every_path(relayport_gateway, fake_openai, model, stream) -> None:
    fake_openai.queue_text("hello", usage=fake_openai.usage(40, 9, cached=16, reasoning=3))
    usage = usage_of(gateway(relayport_gateway, fake_openai, "new-api", **model), stream)
    assert set(usage) == SEED_KEYS
    for key, keys in DETAIL_KEYS.items():
        assert set(usage[key]) == keys, key
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (40, 9, 49)
    assert (usage["input_tokens"], usage["output_tokens"]) == (40, 9)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 16
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 3
    assert usage["output_tokens_details"]["reasoning_tokens"] == 3
    assert usage["input_tokens_details"] is None and usage["claude_cache_creation_1_h_tokens"] == 0


@pytest.mark.parametrize("model", PATHS)
def test_off_by_default(relayport_gateway, fake_openai, model) -> None:
    usage = usage_of(gateway(relayport_gateway, fake_openai, None, **model), False)
    assert "claude_cache_creation_5_m_tokens" not in usage and "input_tokens" not in usage


def test_claude_cache_writes_by_ttl_and_vendor_keys_kept() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105,
             "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 20},
             "prompt_tokens_details": {"cached_tokens": 10, "image_tokens": 64}}
    add_fields(usage)
    assert usage["claude_cache_creation_5_m_tokens"] == 30 and usage["claude_cache_creation_1_h_tokens"] == 20
    assert usage["prompt_tokens_details"] == {"cached_tokens": 10, "image_tokens": 64, "text_tokens": 0,
                                              "audio_tokens": 0}
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 20}
