"""Observers of finished calls (relayport.calls): what usage meters and metrics build on."""

from __future__ import annotations

import httpx

from relayport.calls import CallRecord
from relayport.server.keys import GATEWAY
from relayport.testing.servers import closed_port


def test_observers_see_every_attempt_with_usage_and_outcome(relayport_gateway, fake_openai) -> None:
    gw = relayport_gateway({"models": [
        {"name": "pair", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1", "api_key": "sk-x",
         "priority": 0},
        {"name": "pair", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key,
         "priority": 1},
    ]}, env={})
    seen: list[CallRecord] = []
    gw.server.app[GATEWAY].observers.append(seen.append)
    for stream in (False, True):
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "pair", "stream": stream, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
        r.read()
    ok = [rec for rec in seen if rec.status == 200]
    failed = [rec for rec in seen if rec.status != 200]
    assert len(ok) == 2
    for rec in ok:
        assert (rec.model, rec.provider, rec.error) == ("pair", "openai", None)
        assert rec.usage is not None and rec.usage.input_tokens > 0 and rec.usage.output_tokens > 0
        assert rec.latency > 0 and rec.request_id != "-"
    # The dead deployment's attempts are told too, with their error.
    assert failed and all(rec.error for rec in failed)


def test_usage_chunk_nobody_asked_for_is_dropped_but_counted(relayport_gateway) -> None:
    """SenseNova ends every stream with a usage-only chunk: a client that did not ask for usage
    does not get it, and the call is still metered from it."""
    from relayport_sensenova.testing import FakeSenseNova

    fake = FakeSenseNova().start()
    try:
        gw = relayport_gateway({"models": [{"name": "nova", "provider": "sensenova", "model": "sensenova-6.7-flash-lite",
                                            "base_url": fake.base_url, "api_key": fake.api_key}]}, env={})
        seen: list[CallRecord] = []
        gw.server.app[GATEWAY].observers.append(seen.append)
        fake.queue_text("metered anyway")
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
            "model": "nova", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
        events = [e for e in r.content.split(b"\n\n") if e]
        assert events[-1] == b"data: [DONE]" and b'"usage"' not in r.content
        assert r.content.endswith(b"\n\ndata: [DONE]\n\n")
        assert seen[-1].usage is not None and seen[-1].usage.total_tokens == 19
    finally:
        fake.stop()
