"""Reading vendor error responses into `GatewayError`s: the fallback every provider gets."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse

# Statuses worth trying another deployment (or later, the same one) for.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # neither seconds nor an HTTP date: no advice
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _as_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def error_message(obj: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, code, param) from the envelopes vendors use.

    Covers OpenAI `{"error":{message,type,code,param}}`, Google `{"error":{code,message,status}}`,
    Anthropic `{"type":"error","error":{type,message}}`, DashScope `{code,message}`, MiniMax
    `base_resp{status_code,status_msg}` and a bare `{"message": ...}` or `{"detail": ...}`.
    """
    if isinstance(obj, list) and obj:
        obj = obj[0]  # Google sometimes wraps the envelope in an array
    if not isinstance(obj, dict):
        return None, None, None, None
    err = obj.get("error")
    if isinstance(err, dict):
        code = err.get("code")
        if isinstance(err.get("status"), str) and not isinstance(code, str):
            code = err["status"]  # Google: `code` repeats the HTTP status, `status` says what happened
        status = err.get("status")
        return (
            err.get("message") or err.get("msg"),
            # Azure repeats the HTTP status as a number in `status`: only words are a type.
            err.get("type") or (status if isinstance(status, str) else None),
            None if code is None else str(code),
            err.get("param"),
        )
    if isinstance(err, str):
        return err, None, None, None
    base = obj.get("base_resp")
    if isinstance(base, dict) and base.get("status_code"):
        return base.get("status_msg"), None, str(base.get("status_code")), None
    message = obj.get("message") or obj.get("msg") or obj.get("detail")
    code = obj.get("code")
    return (str(message) if message else None), None, (None if code is None else str(code)), None


def _type_and_code(kind: str | None, code: str | None) -> tuple[str | None, str | None]:
    """A vendor error's `type` and `code` for the gateway's error: OpenAI-style (lowercase)
    types are kept; vendors' own words (e.g. RESOURCE_EXHAUSTED) go to `code` when it has none."""
    if kind and kind.islower():
        return kind, code or None
    return None, code or kind or None


# A stream's error event names no HTTP status; these words in it do (else 502: the vendor failed).
_STREAM_ERROR_STATUS = {"rate_limit_error": 429, "rate_limit_exceeded": 429, "overloaded_error": 529,
                        "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503}


def stream_failure(obj: dict[str, Any]) -> GatewayError | None:
    """The error a stream event (a decoded `data:` object) reports, or None when it is not one:
    OpenAI's and Google's `{"error": {...}}` (with a choice it closes, too: OpenRouter's
    `finish_reason: "error"`), Anthropic's `{"type": "error", "error": {...}}` and the Responses
    API's `{"type": "error", "message": ...}`. Its status is the error's own numeric code when it
    has one (Google's, OpenRouter's), else what its words mean, else 502."""
    err = obj.get("error")
    if not err and obj.get("type") != "error":
        return None
    message, kind, code, param = error_message(obj)
    raw = err.get("code") if isinstance(err, dict) else None
    if isinstance(raw, int) and not isinstance(raw, bool) and 400 <= raw <= 599:
        status = raw
    else:
        status = _STREAM_ERROR_STATUS.get(kind or "") or _STREAM_ERROR_STATUS.get(code or "") or 502
    type_, code = _type_and_code(kind, code)
    return GatewayError(status, f"The vendor's stream failed: {message or 'unknown error'}", type=type_,
                        code=code, param=param, retryable=status in RETRYABLE_STATUSES)


def map_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    """The vendor's status with its message normalised into the gateway's error."""
    message, kind, code, param = error_message(_as_json(response.body))
    if not message:
        text = response.body[:300].decode("utf-8", "replace").strip()
        message = text or f"HTTP {response.status}"
    status = response.status if 400 <= response.status <= 599 else 502
    retryable = status in RETRYABLE_STATUSES
    should_retry = response.headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"
    type_, code = _type_and_code(kind, code)
    return GatewayError(
        status,
        f"{vendor}: {message}",
        type=type_,
        code=code,
        param=param,
        retryable=retryable,
        retry_after=retry_after(response.headers),
    )
