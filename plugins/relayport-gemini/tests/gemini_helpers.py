"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.chat import ChatRequest
from relayport.provider import Deployment
from relayport.secrets import Secret
from relayport.urlguard import Fetched
from relayport.wire import openai_chat
from relayport_gemini import egress
from relayport_gemini.plugin import SPEC

GATEWAY_KEY = "sk-gateway-test"
GEMINI_KEY = "gm-vendor-SECRET"
OPENAI_KEY = "sk-openai-vendor-SECRET"


def deployment(model: str = "gemini-2.5-flash", options: dict[str, Any] | None = None,
               base_url: str = "https://generativelanguage.googleapis.com") -> Deployment:
    return Deployment(name="gemini", provider=SPEC, model=model, base_url=base_url,
                      api_key=Secret("gm-test"), hooks=None, options=options or {})


def decode(openai_body: dict[str, Any]) -> ChatRequest:
    return openai_chat.decode_request({"model": "gemini", **openai_body})


def translate(openai_body: dict[str, Any], model: str = "gemini-2.5-flash",
              fetched: dict[str, Fetched] | None = None) -> tuple[dict[str, Any], Any]:
    """An OpenAI chat body through the core's decoder and this plugin's egress: (body, request)."""
    req = decode(openai_body)
    req.fetched.update(fetched or {})
    up = egress.build_request(deployment(model), req)
    assert up.body is not None
    return orjson.loads(up.body), up


def sse_data(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
