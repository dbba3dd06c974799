"""Small helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.openai_compat import OpenAICompat
from relayport.provider import Deployment, ProviderSpec
from relayport.secrets import Secret
from relayport.wire import openai_chat
from relayport_anthropic import egress
from relayport_anthropic.plugin import SPEC

GATEWAY_KEY = "sk-gateway-test"
ANTHROPIC_KEY = "sk-ant-vendor-SECRET"
OPENAI_KEY = "sk-openai-vendor-SECRET"


def deployment(model: str = "claude-sonnet-4-5", options: dict[str, Any] | None = None,
               base_url: str = "https://api.anthropic.com") -> Deployment:
    return Deployment(name="claude", provider=SPEC, model=model, base_url=base_url,
                      api_key=Secret("sk-ant-test"), hooks=None, options=options or {})


def translate(openai_body: dict[str, Any], model: str = "claude-sonnet-4-5",
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """An OpenAI chat body through the core's decoder and this plugin's egress: (body, headers)."""
    body = {"model": "claude", **openai_body}
    req = openai_chat.decode_request(body)
    up = egress.build_request(deployment(model, options), req)
    assert up.body is not None
    return orjson.loads(up.body), up.headers


def sse_data(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]


def sse_events(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, JSON data) of every event in an SSE body."""
    out: list[tuple[str | None, dict[str, Any]]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name = None
        data = None
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        if data is not None:
            out.append((name, orjson.loads(data)))
    return out


class OpenAICompatVendor:
    """A stand-in OpenAI-compatible vendor plugin, so these tests need no other vendor package."""

    @hookimpl
    def relayport_register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(ProviderSpec(name="compat", base_url="https://compat.invalid/v1", key_env=("COMPAT_KEY",),
                              auth="bearer", openai_compat=OpenAICompat()))
