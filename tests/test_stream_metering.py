"""Stream metering: with usage being counted, the gateway asks vendors for a stream's usage
(`stream_options.include_usage`) even when the client did not, and the client still gets
byte for byte what it would have got without metering."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from relayport.calls import CallRecord
from relayport.gateway import _strip_usage
from relayport.model.http import UpstreamRequest
from relayport.openai_compat import OpenAICompat, _usage_reader
from relayport.provider import Passthrough
from relayport.server.keys import GATEWAY
from relayport.testing import fakes
from relayport.testing.fakes import FakeOpenAI

PROMPT = [{"role": "user", "content": "count my tokens"}]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake stamps `created` with the clock: two calls must give the same bytes.
    class Clock:
        @staticmethod
        def time() -> float:
            return 1_790_000_000.0

    monkeypatch.setattr(fakes, "time", Clock)


def gateways(relayport_gateway: Any, fake: FakeOpenAI, **model: Any) -> tuple[Any, Any, list[CallRecord]]:
    """Two gateways for the same vendor: one metering (with an observer), one not."""
    entry = {"name": "m", "provider": "openai", "base_url": fake.base_url, "api_key": fake.api_key, **model}
    plain = relayport_gateway({"models": [entry], "server": {"meter_streams": "never"},
                               "metrics": {"enabled": False}}, env={})
    metered = relayport_gateway({"models": [entry]}, env={})
    seen: list[CallRecord] = []
    metered.server.app[GATEWAY].observers.append(seen.append)
    return plain, metered, seen


def wait_for(seen: list[CallRecord], n: int) -> list[CallRecord]:
    # A translated stream's record is made as it closes, just after the client got its end.
    deadline = time.monotonic() + 5
    while len(seen) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return seen


def raw_stream(gw: Any, **extra: Any) -> bytes:
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": "m", "stream": True, "messages": PROMPT, **extra})
    assert r.status_code == 200, r.text
    return r.content


def summary(raw: bytes) -> tuple[str, list[Any], list[Any], bool]:
    """What a translated stream says (its chunking follows the vendor's reads, which vary)."""
    chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    return text, finishes, [c.get("usage") for c in chunks if "usage" in c], raw.endswith(b"data: [DONE]\n\n")


def same_stream(got: bytes, expected: bytes, model: dict[str, Any]) -> None:
    if model.get("options", {}).get("passthrough") is False:
        assert summary(got) == summary(expected)
    else:
        assert got == expected


def sent_options(fake: FakeOpenAI) -> Any:
    return orjson.loads(fake.last.body).get("stream_options")


@pytest.mark.parametrize("model", [
    pytest.param({}, id="passthrough"),
    pytest.param({"options": {"passthrough": False}}, id="translated"),
    pytest.param({"options": {"reasoning_field": "reasoning"}}, id="passthrough-fixed-events"),
])
def test_a_client_that_did_not_ask_gets_the_same_bytes_and_the_call_is_metered(
        relayport_gateway, fake_openai, model) -> None:
    plain, metered, seen = gateways(relayport_gateway, fake_openai, **model)
    expected = raw_stream(plain)
    assert sent_options(fake_openai) is None  # not metering: the body goes as the client sent it
    assert b'"usage"' not in expected
    got = raw_stream(metered)
    assert sent_options(fake_openai) == {"include_usage": True}
    same_stream(got, expected, model)
    [rec] = wait_for(seen, 1)
    assert rec.stream and rec.usage is not None
    assert (rec.usage.input_tokens, rec.usage.output_tokens) == (12, 7)
    assert rec.ttfb is not None and 0 < rec.ttfb <= rec.latency


@pytest.mark.parametrize("model", [{}, {"options": {"passthrough": False}}], ids=["passthrough", "translated"])
def test_a_client_that_asked_gets_its_usage_chunk_unchanged(relayport_gateway, fake_openai, model) -> None:
    plain, metered, seen = gateways(relayport_gateway, fake_openai, **model)
    asked = {"stream_options": {"include_usage": True}}
    expected = raw_stream(plain, **asked)
    got = raw_stream(metered, **asked)
    same_stream(got, expected, model)
    assert b'"choices":[],"usage":{"prompt_tokens":12' in got
    assert wait_for(seen, 1)[0].usage is not None and seen[0].usage.output_tokens == 7


def test_other_stream_options_stay_as_the_client_sent_them(relayport_gateway, fake_openai) -> None:
    plain, metered, seen = gateways(relayport_gateway, fake_openai)
    expected = raw_stream(plain, stream_options={"include_usage": False})
    got = raw_stream(metered, stream_options={"include_usage": False})
    assert got == expected
    assert sent_options(fake_openai) == {"include_usage": True}
    assert wait_for(seen, 1)[0].usage is not None


@pytest.mark.parametrize("options", [
    pytest.param({"stream_usage": "always"}, id="asked"),
    # The plugin drops stream_options (Mistral's does): the gateway's ask never reaches the vendor.
    pytest.param({"stream_usage": "always", "drop_fields": ["stream_options"]}, id="option-dropped"),
])
def test_usage_on_the_last_chunk_is_taken_off_for_a_client_that_did_not_ask(relayport_gateway, options) -> None:
    # A vendor that puts usage on its finishing chunk whether asked or not (stream_usage "always").
    fake = FakeOpenAI(usage_placement="last_chunk").start()
    try:
        plain, metered, seen = gateways(relayport_gateway, fake, options=options)
        expected = raw_stream(plain)
        got = raw_stream(metered)
        assert got == expected and b'"usage"' not in got
        assert wait_for(seen, 1)[0].usage is not None and seen[0].usage.input_tokens == 12
    finally:
        fake.stop()


def test_non_stream_calls_are_left_alone(relayport_gateway, fake_openai) -> None:
    _, metered, seen = gateways(relayport_gateway, fake_openai)
    r = httpx.post(metered.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": "m", "messages": PROMPT})
    assert r.status_code == 200
    assert "stream_options" not in orjson.loads(fake_openai.last.body)
    assert not wait_for(seen, 1)[0].stream and seen[0].ttfb is None


def chunk(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def test_strip_usage_keeps_every_other_event_as_it_was() -> None:
    content = chunk({"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None})
    with_usage = chunk({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
    usage_only = chunk({"id": "c", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6}})
    comment = b": keep-alive\n\n"
    done = b"data: [DONE]\n\n"
    plan = Passthrough(UpstreamRequest("POST", "http://v.test", stream=True), usage=_usage_reader(OpenAICompat()))
    plain = chunk({"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}]})
    finish = chunk({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    # OpenAI's shape: "usage":null on every chunk, then a usage-only chunk.
    stripped, usage = _strip_usage(content + comment + content + usage_only + done, plan)
    assert stripped == plain + comment + plain + done
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (5, 6)
    # Usage on the finishing chunk itself (no separate chunk): taken off that chunk.
    stripped, usage = _strip_usage(content + with_usage + done, plan)
    assert stripped == plain + finish + done
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (1, 2)
    assert _strip_usage(usage_only, None) == (b"", None)
    assert _strip_usage(comment + done, plan) == (comment + done, None)
    spaced = b'data: {"id": "c", "choices": [], "usage": null}\n\n'
    assert _strip_usage(spaced, None)[0] == b'data: {"id": "c", "choices": []}\n\n'
