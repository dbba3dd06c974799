"""The conformance suite every vendor plugin runs: subclass `ProviderConformance` in its tests.

    from relayport.testing.conformance import ProviderConformance

    class TestDeepSeekConformance(ProviderConformance):
        provider = "deepseek"
        entry_point = "deepseek"
        model = "deepseek-chat"

        def make_fake(self):
            return FakeOpenAI(usage_style="deepseek")

The fake must speak the vendor's real wire format and offer the `VendorFake` methods below;
the suite then drives the plugin through the gateway's public API with the official `openai`
SDK and checks every answer against OpenAI's published OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import orjson
import pytest

from relayport.plugins import load_plugins
from relayport.server.ops_routes import describe_plugins
from relayport.testing import openapi
from relayport.testing.fakes import RecordedRequest, Reply
from relayport.testing.servers import GatewayHandle, start_gateway

KNOWN_CAPABILITIES = frozenset({
    "chat", "stream", "tools", "vision", "audio", "video", "files", "thinking", "search",
    "images", "video_generation", "speech", "embeddings",
})
GATEWAY_KEY = "sk-gateway-conformance"
VENDOR_KEY = "sk-vendor-conformance-SECRET"


class VendorFake(Protocol):
    """What the suite needs of a plugin's fake vendor."""

    requests: list[RecordedRequest]

    @property
    def base_url(self) -> str:
        """The base URL to configure (what the vendor's SDK calls base_url)."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def push(self, *replies: Reply) -> None: ...

    def queue_text(self, text: str = "", **kwargs: Any) -> None:
        """Script the next turn: answered as JSON or as a stream, as the request asks."""

    def error_reply(self, status: int, message: str) -> Reply:
        """The vendor's own error envelope with this status and message."""


class ProviderConformance:
    provider: str
    entry_point: str
    model: str
    #: how the fake expects the vendor key: header name and its value format
    auth_header: str = "authorization"
    auth_format: str = "Bearer {key}"

    def make_fake(self) -> VendorFake:
        raise NotImplementedError

    # ----------------------------------------------------------------- fixtures

    @pytest.fixture
    def vendor(self) -> Iterator[VendorFake]:
        fake = self.make_fake()
        fake.api_key = VENDOR_KEY  # type: ignore[attr-defined]
        fake.start()
        yield fake
        fake.stop()

    @pytest.fixture
    def gateway(self, vendor: VendorFake) -> Iterator[GatewayHandle]:
        config = {
            "server": {"state_path": ":memory:"},
            "auth": {"keys": [GATEWAY_KEY]},
            "models": [{"name": "conformance-model", "provider": self.provider, "model": self.model,
                        "base_url": vendor.base_url, "api_key": VENDOR_KEY}],
        }
        handle = start_gateway(config, env={})
        yield handle
        handle.stop()

    def client(self, gateway: GatewayHandle) -> Any:
        import openai

        return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)

    # ----------------------------------------------------------------- registration

    def test_loads_through_its_entry_point(self) -> None:
        plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": self.entry_point})
        assert not plugins.failures, plugins.failures
        entry = plugins.provider(self.provider)
        assert entry is not None, f"provider {self.provider!r} not registered by {self.entry_point!r}"
        assert entry.plugin == self.entry_point
        listed = describe_plugins(plugins)["plugins"]
        assert any(p["name"] == self.entry_point and p["version"] for p in listed)

    def test_provider_spec_is_well_formed(self) -> None:
        entry = load_plugins({"RELAYPORT_LOAD_PLUGINS": self.entry_point}).provider(self.provider)
        assert entry is not None
        spec = entry.spec
        # Empty: every customer has their own endpoint (Azure resources), named per model.
        assert spec.base_url == "" or spec.base_url.startswith("https://"), \
            "the default base URL must be the vendor's HTTPS API (or empty: configured per model)"
        assert spec.key_env, "name the environment variable(s) the vendor key is read from"
        assert spec.capabilities <= KNOWN_CAPABILITIES, spec.capabilities - KNOWN_CAPABILITIES
        assert "chat" in spec.capabilities

    # ----------------------------------------------------------------- calls

    def test_chat(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        vendor.queue_text("conformance says hi")
        resp = self.client(gateway).chat.completions.with_raw_response.create(
            model="conformance-model", messages=[{"role": "user", "content": "hello"}]
        )
        body = orjson.loads(resp.content)
        openapi.validate_chat_completion(body)
        completion = resp.parse()
        assert completion.choices[0].message.content == "conformance says hi"
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None and completion.usage.total_tokens > 0
        sent = vendor.requests[-1]
        assert sent.headers.get(self.auth_header) == self.auth_format.format(key=VENDOR_KEY)

    def test_chat_stream(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        import httpx

        vendor.queue_text("streamed words arrive in order")
        body = {"model": "conformance-model", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "hello"}]}
        with httpx.stream("POST", gateway.openai_base_url + "/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            raw = r.read()
        datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
        assert datas[-1] == b"[DONE]"
        chunks = [orjson.loads(d) for d in datas[:-1]]
        for chunk in chunks:
            openapi.validate_chat_chunk(chunk)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == "streamed words arrive in order"
        finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        assert finishes == ["stop"]
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0

    @pytest.mark.parametrize("status", [400, 401, 429, 500])
    def test_vendor_error_keeps_status(self, vendor: VendorFake, gateway: GatewayHandle, status: int) -> None:
        import openai

        vendor.push(vendor.error_reply(status, f"vendor says {status}"))
        with pytest.raises(openai.APIStatusError) as info:
            self.client(gateway).chat.completions.create(
                model="conformance-model", messages=[{"role": "user", "content": "hello"}]
            )
        assert info.value.status_code == status
        envelope = orjson.loads(info.value.response.content)
        openapi.validate_error(envelope)
        assert f"vendor says {status}" in envelope["error"]["message"]
        assert VENDOR_KEY not in info.value.response.text

    def test_keys_never_shown(self, gateway: GatewayHandle) -> None:
        import httpx

        r = httpx.get(gateway.url + "/-/plugins", headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
        assert r.status_code == 200
        assert VENDOR_KEY not in r.text and GATEWAY_KEY not in r.text
