"""Vendor keys and gateway keys never show up in logs, error bodies or /-/plugins."""

from __future__ import annotations

import logging

import httpx
import pytest

from relayport.testing.fakes import Reply, openai_error
from relayport.testing.servers import closed_port

GW_KEY = "sk-gateway-TOPSECRET-1"
VENDOR_KEY = "sk-vendor-TOPSECRET-2"


@pytest.fixture
def gw(relayport_gateway, fake_openai):
    fake_openai.api_key = VENDOR_KEY
    return relayport_gateway(
        {
            "auth": {"keys": [GW_KEY]},
            "models": [
                {"name": "ok", "provider": "openai", "base_url": fake_openai.base_url, "api_key": VENDOR_KEY},
                {"name": "down", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1",
                 "api_key": VENDOR_KEY},
                {"name": "wrongkey", "provider": "openai", "base_url": fake_openai.base_url,
                 "api_key": "sk-vendor-TOPSECRET-3"},
            ],
        },
        env={"OPENAI_API_KEY": VENDOR_KEY},
    )


def test_no_key_in_logs_errors_or_listings(gw, fake_openai, caplog):
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {GW_KEY}"}
    url = gw.openai_base_url + "/chat/completions"
    bodies = []
    for model, stream in [("ok", False), ("ok", True), ("down", False), ("down", True), ("wrongkey", False)]:
        r = httpx.post(url, headers=headers, timeout=10,
                       json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "x"}]})
        bodies.append(r.text)
    fake_openai.push(openai_error(500, "upstream exploded"))
    bodies.append(httpx.post(url, headers=headers, json={"model": "ok", "messages": [{"role": "user", "content": "x"}]}).text)
    fake_openai.queue_text("a b c d e", drop_after=2)
    bodies.append(httpx.post(url, headers=headers, json={"model": "ok", "stream": True,
                                                          "messages": [{"role": "user", "content": "x"}]}).text)
    fake_openai.push(Reply(status=401, body=b"bad key " + VENDOR_KEY.encode()[:4]))
    bodies.append(httpx.post(url, headers=headers, json={"model": "ok", "messages": [{"role": "user", "content": "x"}]}).text)
    bodies.append(httpx.post(url, headers={"Authorization": "Bearer sk-wrong-TOPSECRET-4"},
                             json={"model": "ok", "messages": [{"role": "user", "content": "x"}]}).text)
    bodies.append(httpx.get(gw.url + "/-/plugins", headers=headers).text)
    assert any("upstream_unreachable" in b for b in bodies) and any("401" in b or "Incorrect" in b for b in bodies)
    everything = caplog.text + "\n".join(bodies)
    assert "model=ok" in caplog.text  # the call log did run
    assert "TOPSECRET" not in everything
