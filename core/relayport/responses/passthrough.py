"""Responses calls forwarded to an OpenAI-compatible vendor that serves `/responses` itself.

A provider opts in with the "responses" capability; the body goes as the client sent it with
only `model` renamed, and the answer comes back byte for byte (the vendor keeps its own
state: `previous_response_id`, GET and DELETE of its responses are its own).
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest
from relayport.model.usage import Usage
from relayport.provider import Deployment, Passthrough
from relayport.wire.openai_responses import decode_usage

RESPONSES_PATH = "/responses"
INPUT_TOKENS_PATH = "/responses/input_tokens"


def responses_passthrough(deployment: Deployment, body: dict[str, Any], counting: bool = False) -> Passthrough:
    """`counting`: a `POST /responses/input_tokens` call rather than a response."""
    body["model"] = deployment.model
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    path = INPUT_TOKENS_PATH if counting else RESPONSES_PATH
    request = UpstreamRequest("POST", deployment.url(path), headers, orjson.dumps(body),
                              stream=not counting and bool(body.get("stream")))
    return Passthrough(request, usage=usage_of, stream_error=error_event)


def usage_of(obj: dict[str, Any]) -> Usage | None:
    """Usage of a Response object, or of the stream event carrying one (`response.completed`)."""
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        response = obj.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
    return decode_usage(usage) if isinstance(usage, dict) else None


def error_event(err: GatewayError) -> bytes:
    """The `error` event that ends a Responses stream the vendor broke off."""
    obj = {"type": "error", "code": err.code or err.type, "message": err.message, "param": err.param,
           "sequence_number": 0}
    return b"event: error\ndata: " + orjson.dumps(obj) + b"\n\n"
