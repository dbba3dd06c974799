"""Claude's own input-token count for a canonical request (`POST /v1/messages/count_tokens`).

The Messages body is built exactly as a call would be (so the count covers the same system,
tools, thinking and images), then cut to the fields count_tokens takes: it refuses the
others (`max_tokens`, `stream`, `temperature`... are "Extra inputs").
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.tokens import TokenCount
from relayport.provider import Deployment
from relayport_anthropic import vocab
from relayport_anthropic.egress import build_request, endpoint

# The request fields of count_tokens (Anthropic's API reference, "Count tokens in a Message").
COUNT_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
                "context_management", "mcp_servers", "cache_control")


def read_count(response: UpstreamResponse) -> int:
    n = response.json_object("anthropic").get("input_tokens")
    if not isinstance(n, int) or isinstance(n, bool):
        raise GatewayError(502, "anthropic: the count_tokens answer has no input_tokens.",
                           code="bad_upstream_response")
    return n


def counted_fields(call: UpstreamRequest) -> dict[str, Any]:
    """The part of a built Messages call that count_tokens takes."""
    body = orjson.loads(call.body or b"{}")
    return {k: body[k] for k in COUNT_FIELDS if k in body}


def count_request(deployment: Deployment, request: ChatRequest) -> TokenCount:
    call = build_request(deployment, request)
    up = UpstreamRequest("POST", endpoint(deployment, vocab.COUNT_TOKENS_PATH), call.headers,
                         orjson.dumps(counted_fields(call)), adjustments=call.adjustments)
    return TokenCount(up, read_count)
