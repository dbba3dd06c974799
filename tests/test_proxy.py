"""Egress through proxies: a model's own `proxy`, and HTTP(S)_PROXY / NO_PROXY from the environment."""

from __future__ import annotations

import httpx
import pytest

from relayport.testing.fakes import FakeOpenAI

# A host that does not resolve: the call can only succeed through the proxy.
VENDOR_URL = "http://vendor.invalid/v1"


@pytest.fixture
def proxy():
    """A fake forward proxy: for http:// targets aiohttp sends it absolute-form requests."""
    fake = FakeOpenAI(api_key="sk-behind-proxy")
    fake.start()
    yield fake
    fake.stop()


def call(gw):
    # trust_env=False: the test client itself must not go through the proxy.
    return httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, trust_env=False,
                      json={"model": "p", "messages": [{"role": "user", "content": "via proxy"}]})


def test_per_model_proxy(relayport_gateway, proxy, monkeypatch):
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    gw = relayport_gateway({"models": [{"name": "p", "provider": "openai", "base_url": VENDOR_URL,
                                        "api_key": "sk-behind-proxy", "proxy": proxy.url}]}, env={})
    r = call(gw)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: via proxy"
    assert proxy.last.headers["host"] == "vendor.invalid"
    assert proxy.last.path == "/v1/chat/completions"


def test_environment_proxy_and_no_proxy(relayport_gateway, proxy, monkeypatch):
    for var in ("HTTPS_PROXY", "https_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "")
    gw = relayport_gateway({"models": [{"name": "p", "provider": "openai", "base_url": VENDOR_URL,
                                        "api_key": "sk-behind-proxy"}]}, env={})
    r = call(gw)
    assert r.status_code == 200, r.text
    assert proxy.last.headers["host"] == "vendor.invalid"
    # NO_PROXY exempts the vendor: the unresolvable host is then tried directly and fails.
    # (The environment is read when deployments are built, i.e. at start-up.)
    monkeypatch.setenv("NO_PROXY", "vendor.invalid")
    gw = relayport_gateway({"models": [{"name": "p", "provider": "openai", "base_url": VENDOR_URL,
                                        "api_key": "sk-behind-proxy"}]}, env={})
    before = len(proxy.requests)
    r = call(gw)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unreachable"
    assert len(proxy.requests) == before
