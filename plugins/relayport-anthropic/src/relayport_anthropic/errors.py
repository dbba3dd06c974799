"""Anthropic error envelopes <-> `GatewayError`.

Egress: `{"type":"error","error":{"type","message"},"request_id"}` becomes a GatewayError with
the vendor's status, an OpenAI `type`, and Anthropic's own type kept in `code` (so the Messages
surface can give an Anthropic client the exact type back).
Ingress: any GatewayError rendered in the Anthropic envelope, in a body or as an SSE `error` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from relayport.model.errors import GatewayError, error_type_for
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import retry_after
from relayport_anthropic import vocab

# 529 (overloaded) is Anthropic's own; the rest are the usual transient statuses.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def _gateway_error(status: int, kind: str | None, message: str, request_id: str | None,
                   headers: Mapping[str, str] | None) -> GatewayError:
    retryable = status in RETRYABLE_STATUSES or kind in ("overloaded_error", "rate_limit_error")
    if headers is not None:
        # The API says itself whether a retry can help; the SDKs obey it, so do we.
        should = headers.get("x-should-retry")
        if should in ("true", "false"):
            retryable = should == "true"
    err = GatewayError(
        status,
        message,
        type=kind if kind in vocab.SHARED_ERROR_TYPES else error_type_for(status),
        code=kind,
        retryable=retryable,
        retry_after=retry_after(headers) if headers is not None else None,
    )
    if request_id:
        err.extra["request_id"] = request_id
    return err


def map_error(response: UpstreamResponse) -> GatewayError:
    """A non-2xx answer of the Messages API."""
    status = response.status if 400 <= response.status <= 599 else 502
    kind: str | None = None
    message: str | None = None
    request_id: str | None = response.headers.get("request-id")
    try:
        obj: Any = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            kind = err.get("type") if isinstance(err.get("type"), str) else None
            message = err.get("message") if isinstance(err.get("message"), str) else None
        request_id = obj.get("request_id") or request_id
    if not message:
        # Not Anthropic's envelope: a proxy or load balancer answered (e.g. Cloudflare's 413 page).
        text = response.body[:300].decode("utf-8", "replace").strip()
        message = text or f"HTTP {response.status}"
    return _gateway_error(status, kind, message, request_id, response.headers)


def from_event(obj: dict[str, Any]) -> GatewayError:
    """An `error` event inside a stream that began with HTTP 200 (e.g. overloaded_error)."""
    err = obj.get("error")
    kind = message = None
    if isinstance(err, dict):
        kind = err.get("type")
        message = err.get("message")
    status = vocab.ERROR_STATUS.get(kind or "", 500)
    return _gateway_error(status, kind, message or "The vendor failed mid-stream.",
                          obj.get("request_id"), None)


# ---------------------------------------------------------------- the Messages surface


def anthropic_type(error: GatewayError) -> str:
    """The Anthropic error.type an Anthropic client should see for this error.

    An Anthropic vendor's own type (kept in `code`) wins; otherwise the status decides, as it
    does for Anthropic's API (the SDKs pick their exception class by status anyway).
    """
    if error.code in vocab.ERROR_TYPES:
        return error.code  # type: ignore[return-value]
    if error.status in vocab.ERROR_TYPE_BY_STATUS:
        return vocab.ERROR_TYPE_BY_STATUS[error.status]
    if error.status == 503:
        return "overloaded_error"
    if error.type in vocab.ERROR_TYPES:
        return error.type  # type: ignore[return-value]
    return "api_error" if error.status >= 500 else "invalid_request_error"


def envelope(error: GatewayError) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "error",
        "error": {"type": anthropic_type(error), "message": error.message},
    }
    request_id = error.extra.get("request_id")
    out["request_id"] = request_id if isinstance(request_id, str) else None
    return out


def render_error(error: GatewayError) -> tuple[int, bytes]:
    """(status, body) in Anthropic's envelope; the Surface's error renderer."""
    return error.status, orjson.dumps(envelope(error))


def error_event(error: GatewayError) -> bytes:
    """An SSE `error` event: the Anthropic SDKs raise the matching APIStatusError on it."""
    return b"event: error\ndata: " + orjson.dumps(envelope(error)) + b"\n\n"
