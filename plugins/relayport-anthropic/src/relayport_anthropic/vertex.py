"""Claude on Vertex AI: the `vertex-anthropic` provider.

Vertex serves Anthropic's Messages API with two differences (Anthropic's "Claude on Vertex AI"
and Google's partner-model docs): the model is in the URL, not the body, and the API version
is `anthropic_version: "vertex-2023-10-16"` in the body, not a header:

    POST https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
         publishers/anthropic/models/{model}:rawPredict          (streamRawPredict with stream)
    POST .../publishers/anthropic/models/count-tokens:rawPredict   (the model stays in the body)

Everything else (messages, tools, thinking, SSE events, Anthropic's error envelope for the
model's own refusals) is the Messages API, so Anthropic clients' calls pass through and OpenAI
clients' calls are translated by this package as for Anthropic's own API. Auth is an OAuth
access token (`relayport.gcp`: a service account or ADC with `relayport-anthropic[vertex]`, or
a plain token); Vertex's own refusals (token, quota, unknown model) come in Google's envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from relayport import gcp
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.tokens import TokenCount
from relayport.provider import Deployment, Passthrough, ProviderSpec
from relayport_anthropic import counting, errors, server_tools
from relayport_anthropic.egress import encode_request, request_headers
from relayport_anthropic.errors import error_event
from relayport_anthropic.passthrough import COUNT_TOKENS, usage_reader

PROVIDER = "vertex-anthropic"
VERSION = "vertex-2023-10-16"

VERTEX = ProviderSpec(
    name=PROVIDER,
    base_url=gcp.GLOBAL_HOST,  # the location's host unless a model's base_url says otherwise
    key_env=("VERTEX_ACCESS_TOKEN",),
    auth="bearer",
    capabilities=frozenset({"chat", "stream", "tools", "vision", "files", "thinking"}),
    credentials=gcp.vertex_credentials,
    description="Claude on Google Cloud Vertex AI (service account, ADC or access token)",
)


def _vertex_body(body: dict[str, Any], deployment: Deployment, keep_model: bool = False) -> bytes:
    if not keep_model:
        body.pop("model", None)
    body["anthropic_version"] = str(deployment.options.get("anthropic_version") or VERSION)
    return orjson.dumps(body)


def _headers(deployment: Deployment, betas: Any = (), client: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = request_headers(deployment, betas, client=client)
    headers.pop("anthropic-version", None)  # Vertex reads the version from the body
    return headers


def _url(deployment: Deployment, stream: bool) -> str:
    return gcp.model_url(deployment, "anthropic", "streamRawPredict" if stream else "rawPredict")


def build_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    adjustments: list[str] = []
    body, betas = encode_request(request, deployment.model, deployment.options, adjustments)
    return UpstreamRequest("POST", _url(deployment, request.stream), _headers(deployment, betas),
                           _vertex_body(body, deployment), stream=request.stream, adjustments=adjustments)


def count_request(deployment: Deployment, request: ChatRequest) -> TokenCount:
    """Claude's count of a canonical request on Vertex: count-tokens:rawPredict, with the model
    in the body (unlike a call)."""
    call = build_request(deployment, request)
    counted = {**counting.counted_fields(call), "model": deployment.model}
    up = UpstreamRequest("POST", gcp.model_url(deployment, "anthropic", "rawPredict", model="count-tokens"),
                         call.headers, _vertex_body(counted, deployment, keep_model=True),
                         adjustments=call.adjustments)
    return TokenCount(up, counting.read_count)


def passthrough(deployment: Deployment, body: dict[str, Any], headers: Mapping[str, str], surface: str) -> Passthrough:
    """An Anthropic client's Messages (or count_tokens) call, forwarded in Vertex's spelling."""
    counting = surface == COUNT_TOKENS
    if counting:
        body.pop("stream", None)
        body["model"] = deployment.model
        url = gcp.model_url(deployment, "anthropic", "rawPredict", model="count-tokens")
    stream = bool(body.get("stream"))
    if not counting:
        url = _url(deployment, stream)
    request = UpstreamRequest("POST", url, _headers(deployment, server_tools.betas(body), client=headers),
                              _vertex_body(body, deployment, keep_model=counting), stream=stream)
    return Passthrough(request, usage=usage_reader(), stream_error=error_event)


def map_error(response: UpstreamResponse) -> GatewayError:
    """Anthropic's envelope (the model refused the call) or Google's (Vertex refused it), in
    which Google's status word (`UNAUTHENTICATED`, `RESOURCE_EXHAUSTED`) is kept as the code."""
    err = errors.map_error(response)
    try:
        obj: Any = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return err
    if isinstance(obj, list) and obj:
        obj = obj[0]
    inner = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("status"), str) and "type" not in inner:
        err.code = inner["status"]
        if isinstance(inner.get("message"), str):
            err.message = inner["message"]
    return err
