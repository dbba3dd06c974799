"""Gemini's own input-token count for a canonical request (`models/{model}:countTokens`).

The whole generateContent body goes inside `generateContentRequest` (with its `model`), so
the count covers the system instruction and the function declarations too: a bare
`contents` would count the messages only (Gemini API reference, "models.countTokens").
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.tokens import TokenCount
from relayport.provider import Deployment
from relayport_gemini.egress import encode_request, model_path, request_headers


def read_count(response: UpstreamResponse) -> int:
    n = response.json_object("gemini").get("totalTokens", 0)  # proto3 JSON omits a zero
    if not isinstance(n, int) or isinstance(n, bool):
        raise GatewayError(502, "gemini: the countTokens answer has no totalTokens.", code="bad_upstream_response")
    return n


def count_request(deployment: Deployment, request: ChatRequest) -> TokenCount:
    adjustments: list[str] = []
    inner: dict[str, Any] = encode_request(request, deployment.model, deployment.options, adjustments)
    inner["model"] = "models/" + deployment.model.removeprefix("models/")
    up = UpstreamRequest("POST", model_path(deployment, "countTokens"), request_headers(deployment),
                         orjson.dumps({"generateContentRequest": inner}), adjustments=adjustments)
    return TokenCount(up, read_count)
