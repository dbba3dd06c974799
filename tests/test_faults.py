"""The fault-injection fake against the gateway: every fault, streamed and not, ends in a
success from the healthy fallback or the right error, never a hang; and a 10,000-call mix
loses nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import httpx
import openai
import pytest

from relayport.testing.faults import BEFORE_FIRST_BYTE, FAULTS, FaultyOpenAI, refused_url

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def faulty():
    fake = FaultyOpenAI(stall=5.0, drip=0.02).start()
    yield fake
    fake.stop()


def _config(faulty, fake_openai, **router):
    return {
        "models": [{"name": "m", "provider": "openai", "base_url": faulty.base_url, "api_key": faulty.api_key,
                    "timeouts": {"first_byte": 0.5, "idle": 0.5}},
                   {"name": "healthy", "provider": "openai", "base_url": fake_openai.base_url,
                    "api_key": fake_openai.api_key}],
        # the breaker stays closed so that every call meets its fault first
        "router": {"fallbacks": {"m": ["healthy"]}, "failures": 1_000_000, **router},
    }


def _client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0, timeout=10)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("stream", [False, True])
def test_each_fault_ends_in_a_fallback_success_or_a_clean_error(relayport_gateway, faulty, fake_openai,
                                                                 fault, stream):
    config = _config(faulty, fake_openai)
    # Three seconds for the first byte (the stall still ends in a fallback inside its 5 s): with
    # 0.5 s and 1 s, two CI runs timed out before the fake had even read the request, on the
    # test right after one whose fake was still shutting down (cause not found; see the note).
    config["models"][0]["timeouts"]["first_byte"] = 3.0
    gw = relayport_gateway(config, env={})
    faulty.inject(fault)
    client = _client(gw)
    started = time.monotonic()
    if stream:
        with client.chat.completions.with_streaming_response.create(model="m", messages=MSG, stream=True) as r:
            served_by = r.headers["x-relayport-deployment"]
            text, error = "", None
            try:
                for chunk in r.parse():
                    text += "".join(c.delta.content or "" for c in chunk.choices)
            except openai.APIError as exc:
                error = exc
    else:
        try:
            raw = client.chat.completions.with_raw_response.create(model="m", messages=MSG)
            served_by, text, error = raw.headers["x-relayport-deployment"], raw.parse().choices[0].message.content, None
        except openai.APIError as exc:
            served_by, text, error = "-", "", exc
    assert time.monotonic() - started < 5, "no hang"
    assert faulty.played == [fault]
    if fault in BEFORE_FIRST_BYTE:
        assert (served_by, text, error) == ("openai/healthy", "echo: hi", None)
    elif fault == "slow-drip":
        assert (served_by, text, error) == ("openai/m", "echo: hi", None)
    else:  # truncated after events went out: what came, then a clean error the SDK raises
        assert fault == "truncated-stream"
        if stream:
            assert served_by == "openai/m" and error is not None and "broke off" in str(error)
        else:  # nothing went out yet: the healthy one serves
            assert (served_by, text, error) == ("openai/healthy", "echo: hi", None)


def test_connection_refused_goes_on_to_the_next_deployment(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [
        {"name": "m", "provider": "openai", "model": "down", "base_url": refused_url(), "api_key": "sk-x"},
        {"name": "m", "provider": "openai", "model": "up", "base_url": fake_openai.base_url,
         "api_key": fake_openai.api_key}]}, env={})
    raw = _client(gw).chat.completions.with_raw_response.create(model="m", messages=MSG)
    assert raw.headers["x-relayport-deployment"] == "openai/up" and raw.headers["x-relayport-attempts"] == "2"


async def _drive(url: str, n: int, concurrency: int, stream_every: int) -> tuple[int, list[str]]:
    """n calls, `concurrency` at a time; every `stream_every`-th streams. (lost, reasons)"""
    lost: list[str] = []
    done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=15, limits=limits) as client:
        async def one(i: int) -> None:
            nonlocal done
            stream = i % stream_every == 0
            try:
                r = await client.post("/chat/completions",
                                      json={"model": "m", "messages": MSG, "stream": stream})
                ok = r.status_code == 200 and (r.content.endswith(b"data: [DONE]\n\n") and b"echo" in r.content
                                               if stream else r.json()["choices"][0]["message"]["content"] == "echo: hi")
                if not ok:
                    lost.append(f"{r.status_code} {r.text[:200]}")
            except httpx.HTTPError as exc:
                lost.append(repr(exc))
            done += 1

        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                await one(i)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, lost


@pytest.mark.slow
def test_no_call_lost_in_10000_under_a_fault_mix(relayport_gateway, faulty, fake_openai):
    """Every call meets a fault first (the vendor's or a refused connection), then the healthy
    fallback serves it; the stall is left out of most of the mix only to keep the run short."""
    config = _config(faulty, fake_openai)
    config["models"].insert(1, {"name": "m", "provider": "openai", "model": "refused", "base_url": refused_url(),
                                "api_key": "sk-x", "priority": 1})
    gw = relayport_gateway(config, env={"RELAYPORT_LOG_LEVEL": "warning"})
    n = int(os.environ.get("RELAYPORT_FAULT_CALLS", "10000"))
    mix = [f for f in BEFORE_FIRST_BYTE if f != "stall"]
    faulty.inject_mix(mix * 50 + ["stall"], n)
    started = time.monotonic()
    done, lost = asyncio.run(_drive(gw.openai_base_url, n, concurrency=32, stream_every=3))
    elapsed = time.monotonic() - started
    print(f"\n{n} calls under a fault mix: {len(lost)} lost, {elapsed:.1f} s")
    assert done == n and lost == [], lost[:5]
    # Nearly every call met its fault first (a few skip the faulty deployment while a 429's
    # Retry-After keeps it at the back of the route).
    assert len(faulty.played) >= 0.99 * n


def test_added_latency_of_one_fallback(relayport_gateway, faulty, fake_openai):
    """What a 503 from the first vendor adds to a call served by the fallback (printed for the
    report; bounded here so a regression that sleeps or reconnects shows)."""
    gw = relayport_gateway(_config(faulty, fake_openai), env={})
    client = httpx.Client(timeout=10)

    def timed(fault: str | None, model: str) -> float:
        if fault:
            faulty.inject(fault)
        started = time.perf_counter()
        r = client.post(gw.openai_base_url + "/chat/completions", json={"model": model, "messages": MSG})
        assert r.status_code == 200
        return time.perf_counter() - started

    for _ in range(20):  # warm the connection pools
        timed(None, "healthy")
        timed("503", "m")
    direct = statistics.median(timed(None, "healthy") for _ in range(200))
    fallback = statistics.median(timed("503", "m") for _ in range(200))
    print(f"\nmedian direct {direct * 1000:.2f} ms, with one fallback {fallback * 1000:.2f} ms "
          f"(+{(fallback - direct) * 1000:.2f} ms)")
    assert fallback - direct < 0.05


def test_a_stream_that_opens_with_the_vendors_error_falls_back(relayport_gateway, fake_openai):
    """A translated stream whose vendor answers 200 and then an error chunk before any output:
    the client has nothing yet, so the attempt failed (recorded with the error's status) and
    the fallback answers, as for an error status; with no fallback the client gets the error's
    status, not a 200 stream holding it."""
    from relayport.calls import CallRecord
    from relayport.server.keys import GATEWAY
    from relayport.testing.fakes import FakeOpenAI

    broken = FakeOpenAI()
    broken.start()
    try:
        translated = {"provider": "openai", "base_url": broken.base_url, "api_key": broken.api_key,
                      "options": {"passthrough": False}}
        gw = relayport_gateway({
            "models": [{"name": "m", **translated}, {"name": "solo", **translated},
                       {"name": "healthy", "provider": "openai", "base_url": fake_openai.base_url,
                        "api_key": fake_openai.api_key, "options": {"passthrough": False}}],
            "router": {"fallbacks": {"m": ["healthy"]}}}, env={})
        seen: list[CallRecord] = []
        gw.server.app[GATEWAY].observers.append(seen.append)
        broken.queue_text("never sent", error_after=0)
        fake_openai.queue_text("from the fallback")
        stream = _client(gw).chat.completions.create(model="m", messages=MSG, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "from the fallback"
        deadline = time.monotonic() + 5  # a stream is recorded as it closes, after its last bytes
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(r.model, r.status, r.error) for r in seen] == [("m", 502, "server_error"), ("healthy", 200, None)]
        broken.queue_text("never sent", error_after=0)
        with pytest.raises(openai.APIStatusError) as caught:
            list(_client(gw).chat.completions.create(model="solo", messages=MSG, stream=True))
        assert caught.value.status_code == 502
        assert caught.value.body["message"] == "The vendor's stream failed: The server had an error while " \
                                               "processing your request."
    finally:
        broken.stop()


@pytest.mark.parametrize("opening", [
    # OpenAI's in-band error chunk as the first event.
    [],
    # OpenRouter: a keep-alive comment first, in the same read as its error (the upstream's
    # status as `code`). A comment read alone is relayed at once (it keeps proxies from timing
    # out), and an error after it is in-band.
    [b": OPENROUTER PROCESSING\n\n"],
])
def test_a_passed_through_stream_that_opens_with_the_vendors_error_falls_back(
        relayport_gateway, fake_openai, opening):
    """The same on the passthrough path (an OpenAI client, an OpenAI-compatible vendor, the
    bytes relayed as they come): a 200 whose first event with data is the vendor's error is a
    failed attempt with that error's status, so the fallback answers; alone, the client gets
    the status and the vendor's message in an error envelope."""
    from relayport.calls import CallRecord
    from relayport.server.keys import GATEWAY
    from relayport.testing.fakes import FakeOpenAI, Reply

    code, event = (502, b'data: {"error":{"message":"The server had an error while processing your request.",'
                   b'"type":"server_error","param":null,"code":null}}\n\n')
    if opening:
        code, event = 429, b'data: {"error":{"code":429,"message":"Provider returned error"}}\n\n'
    broken = FakeOpenAI()
    broken.start()
    try:
        direct = {"provider": "openai", "base_url": broken.base_url, "api_key": broken.api_key}
        gw = relayport_gateway({
            "models": [{"name": "m", **direct}, {"name": "solo", **direct},
                       {"name": "healthy", "provider": "openai", "base_url": fake_openai.base_url,
                        "api_key": fake_openai.api_key}],
            "router": {"fallbacks": {"m": ["healthy"]}}}, env={})
        seen: list[CallRecord] = []
        gw.server.app[GATEWAY].observers.append(seen.append)
        broken.push(Reply.sse([b"".join([*opening, event])]))
        fake_openai.queue_text("from the fallback")
        stream = _client(gw).chat.completions.create(model="m", messages=MSG, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "from the fallback"
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(r.model, r.status) for r in seen] == [("m", code), ("healthy", 200)]
        broken.push(Reply.sse([b"".join([*opening, event])]))
        r = httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": "Bearer unused"},
                       json={"model": "solo", "messages": MSG, "stream": True}, timeout=10)
        assert r.status_code == code and r.headers["content-type"].startswith("application/json")
        message = r.json()["error"]["message"]
        assert message.startswith("The vendor's stream failed: ") and ("server had an error" in message
                                                                       or "Provider returned error" in message)
        # Output first, then the error: the client has bytes already, so the error stays in-band.
        broken.queue_text("partial words here", error_after=2)
        r = httpx.post(gw.openai_base_url + "/chat/completions", headers={"Authorization": "Bearer unused"},
                       json={"model": "solo", "messages": MSG, "stream": True}, timeout=10)
        assert r.status_code == 200 and b'"error"' in r.content and b"server had an error" in r.content
    finally:
        broken.stop()
