"""A client that goes away mid-call still leaves its call in the usage log and /metrics: one
record with status 499 (`client_closed_request`), for passed-through and translated streams,
before the first token and after it, and for a non-streamed call still waiting on the vendor;
the vendor's answer is dropped, not read to its end. A stream cut short after its first token
(the client left, or the vendor's connection dropped) carries an estimate of its tokens, so
it is charged (relayport.interrupted)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from relayport.calls import CallRecord
from relayport.server.keys import GATEWAY
from relayport.testing.fakes import FakeOpenAI, Reply

PROMPT = [{"role": "user", "content": "x"}]


# The prompt's estimate: 1 character (a token, rounded up) + 4 tokens of message framing.
PROMPT_ESTIMATE = 5


def gateway(relayport_gateway: Any, fake: FakeOpenAI, passthrough: bool,
            **config: Any) -> tuple[Any, list[CallRecord]]:
    entry: dict[str, Any] = {"name": "m", "provider": "openai", "base_url": fake.base_url, "api_key": fake.api_key}
    if not passthrough:
        entry["options"] = {"passthrough": False}
    gw = relayport_gateway({"models": [entry], **config}, env={})
    seen: list[CallRecord] = []
    gw.server.app[GATEWAY].observers.append(seen.append)
    return gw, seen


def settled(seen: list[CallRecord], fake: FakeOpenAI) -> list[CallRecord]:
    """The records once the vendor's connection is closed (and a moment more for a second one)."""
    deadline = time.monotonic() + 5
    while (not seen or fake.open_streams) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    return seen


def gone(rec: CallRecord, stream: bool) -> tuple[Any, ...]:
    return rec.status, rec.error, rec.stream is stream, rec.model, rec.usage


@pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "translated"])
def test_a_stream_left_midway_is_one_499_record(relayport_gateway, fake_openai, passthrough) -> None:
    gw, seen = gateway(relayport_gateway, fake_openai, passthrough)
    fake_openai.queue_text(" ".join(f"w{i}" for i in range(200)), delay=0.05)
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", timeout=10,
                      json={"model": "m", "stream": True, "messages": PROMPT}) as r:
        it = r.iter_bytes()
        next(it)
        next(it)
    [rec] = settled(seen, fake_openai)
    assert gone(rec, stream=True)[:4] == (499, "client_closed_request", True, "m")
    assert rec.ttfb is not None  # it had its first token
    assert fake_openai.cancelled_streams == 1
    # Charged for what it got: the prompt's estimate, and about a token per word read (the
    # client read two of 200 words, the gateway a few more before it saw the client leave).
    assert rec.usage is not None and rec.usage.input_tokens == PROMPT_ESTIMATE
    assert 1 <= rec.usage.output_tokens <= 20


@pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "translated"])
def test_a_stream_the_vendor_drops_is_charged_the_words_it_sent(relayport_gateway, fake_openai, passthrough) -> None:
    gw, seen = gateway(relayport_gateway, fake_openai, passthrough)
    # The role chunk and 30 words, then the vendor's connection drops: no usage ever comes.
    fake_openai.queue_text(" ".join(f"w{i}" for i in range(100)), drop_after=31)
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": "m", "stream": True, "messages": PROMPT})
    assert b' w29"' in r.content and b"data: [DONE]" not in r.content
    [rec] = settled(seen, fake_openai)
    assert rec.status == 502 and rec.stream
    assert rec.usage is not None and rec.usage.input_tokens == PROMPT_ESTIMATE
    assert 29 <= rec.usage.output_tokens <= 32  # 30 words of a token each (the estimate's sampling error)


def test_the_estimate_can_be_turned_off(relayport_gateway, fake_openai) -> None:
    gw, seen = gateway(relayport_gateway, fake_openai, True, billing={"estimate_interrupted": False})
    fake_openai.queue_text(" ".join(f"w{i}" for i in range(100)), drop_after=31)
    httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
               json={"model": "m", "stream": True, "messages": PROMPT})
    [rec] = settled(seen, fake_openai)
    assert (rec.status, rec.usage) == (502, None)


@pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "translated"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_a_client_that_leaves_before_the_first_token_is_one_499_record(
        relayport_gateway, fake_openai, passthrough, stream) -> None:
    gw, seen = gateway(relayport_gateway, fake_openai, passthrough)
    fake_openai.push(Reply(hang=True))  # the vendor has not answered when the client gives up
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.openai_base_url + "/chat/completions", timeout=0.5,
                   json={"model": "m", "stream": stream, "messages": PROMPT})
    [rec] = settled(seen, fake_openai)
    # No answer was streamed (as for any attempt that failed before its first byte).
    assert gone(rec, stream=False) == (499, "client_closed_request", True, "m", None)
    assert rec.ttfb is None


def test_a_stream_read_to_its_end_is_not_a_499(relayport_gateway, fake_openai) -> None:
    gw, seen = gateway(relayport_gateway, fake_openai, passthrough=False)
    fake_openai.queue_text("all of it", usage=fake_openai.usage(5, 3))
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                   json={"model": "m", "stream": True, "messages": PROMPT})
    assert r.status_code == 200 and r.content.endswith(b"data: [DONE]\n\n")
    [rec] = settled(seen, fake_openai)
    assert (rec.status, rec.error, rec.usage is not None) == (200, None, True)


def test_metrics_count_it_as_the_clients_not_the_vendors(relayport_gateway, fake_openai) -> None:
    from tests.test_metrics import scrape, value

    gw, seen = gateway(relayport_gateway, fake_openai, passthrough=True)
    fake_openai.push(Reply(hang=True))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.openai_base_url + "/chat/completions", timeout=0.5,
                   json={"model": "m", "messages": PROMPT})
    settled(seen, fake_openai)
    samples = scrape(gw)
    assert value(samples, "relayport_requests_total", model="m", provider="openai", status="499") == 1
    assert not [k for k in samples if k[0] == "relayport_upstream_errors_total"]
