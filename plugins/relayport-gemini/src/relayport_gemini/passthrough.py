"""Gemini clients to Gemini models: the body goes as sent, to the deployment's model."""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest
from relayport.model.usage import Usage
from relayport.provider import Deployment, Passthrough
from relayport_gemini import vocab
from relayport_gemini.egress import model_path, request_headers, vertex_extras
from relayport_gemini.errors import envelope
from relayport_gemini.usage import decode_usage

# The surface names the Gemini surface passes (one per endpoint, so the hook knows which to call).
GENERATE = "gemini.generate"
STREAM = "gemini.stream"          # streamGenerateContent without alt=sse: one JSON array
STREAM_SSE = "gemini.stream_sse"  # streamGenerateContent?alt=sse
COUNT_TOKENS = "gemini.count_tokens"
SURFACES = frozenset({GENERATE, STREAM, STREAM_SSE, COUNT_TOKENS})
_ACTIONS = {GENERATE: "generateContent", STREAM: "streamGenerateContent",
            STREAM_SSE: "streamGenerateContent", COUNT_TOKENS: "countTokens"}


def _usage(obj: dict[str, Any]) -> Usage | None:
    usage = obj.get("usageMetadata")
    return decode_usage(usage) if isinstance(usage, dict) else None


def stream_error(err: GatewayError) -> bytes:
    """An error after a stream started, as the Gemini API sends one (the SDKs raise on it)."""
    return b"data: " + orjson.dumps(envelope(err)) + b"\r\n\r\n"


# What Vertex AI's countTokens takes besides `contents` (it has no `generateContentRequest`).
_VERTEX_COUNT_FIELDS = ("contents", "systemInstruction", "tools", "generationConfig")


def passthrough(deployment: Deployment, body: dict[str, Any], surface: str) -> Passthrough:
    inner = body.get("generateContentRequest")
    if deployment.provider.name == vocab.VERTEX_PROVIDER:
        if surface == COUNT_TOKENS:
            if isinstance(inner, dict):
                body = {k: inner[k] for k in _VERTEX_COUNT_FIELDS if k in inner}
        else:
            vertex_extras(body, deployment)
    elif surface == COUNT_TOKENS and isinstance(inner, dict) and "model" in inner:
        inner["model"] = "models/" + deployment.model.removeprefix("models/")
    url = model_path(deployment, _ACTIONS[surface], stream=surface == STREAM_SSE)
    request = UpstreamRequest("POST", url, request_headers(deployment), orjson.dumps(body),
                              stream=surface in (STREAM, STREAM_SSE))
    return Passthrough(request, usage=_usage, marker=b'"usageMetadata"', stream_error=stream_error)
