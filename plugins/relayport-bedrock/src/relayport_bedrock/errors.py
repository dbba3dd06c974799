"""Bedrock's errors -> `GatewayError`: the `x-amzn-ErrorType` header with a `{"message": ...}`
body on HTTP answers, and exception frames (`:exception-type`) inside event streams."""

from __future__ import annotations

import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import retry_after
from relayport_bedrock import vocab

# Phrases of Bedrock's "prompt too long" ValidationExceptions (Converse and Claude's own).
_TOO_LONG = ("too long", "too many input tokens", "exceeds the maximum", "context window")


def _message(body: bytes) -> str | None:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        msg = obj.get("message") or obj.get("Message")
        return msg if isinstance(msg, str) else None
    return None


def error(kind: str, message: str, status: int | None = None) -> GatewayError:
    """The gateway's error for a Bedrock error type and message."""
    key = kind.lower()
    status = status if status is not None else vocab.ERROR_STATUS.get(key, 502)
    code: str | None = kind or None
    if key == "validationexception" and any(p in message.lower() for p in _TOO_LONG):
        code = "context_length_exceeded"  # lets routing use context_window_fallbacks
    return GatewayError(status, f"bedrock: {message}", code=code,
                        retryable=key in vocab.RETRYABLE or status in (500, 502, 503, 504))


def map_error(response: UpstreamResponse) -> GatewayError:
    # "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/": the type
    # is what comes before the colon.
    kind = (response.headers.get("x-amzn-errortype") or "").split(":", 1)[0].strip()
    message = _message(response.body) or response.body[:300].decode("utf-8", "replace").strip() \
        or f"HTTP {response.status}"
    status = response.status if 400 <= response.status <= 599 else 502
    err = error(kind, message, status)
    err.retry_after = retry_after(response.headers)
    return err


def frame_error(kind: str, payload: bytes) -> GatewayError:
    """An exception frame in a stream (`modelStreamErrorException`, `throttlingException`...)."""
    return error(kind, _message(payload) or "the model's stream failed")
