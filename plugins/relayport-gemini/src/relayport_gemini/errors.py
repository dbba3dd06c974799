"""Google's error envelope <-> `GatewayError`.

Egress: `{"error":{"code","message","status","details"}}` (sometimes wrapped in an array)
becomes a GatewayError with the vendor's status and message, Google's `status` kept in
`code`, and the wait from `google.rpc.RetryInfo` as `retry_after` (which the core turns into
the client's `retry-after` header, as the OpenAI SDKs expect). Ingress: any GatewayError in Google's envelope.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from relayport.model.errors import GatewayError, error_type_for
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import retry_after
from relayport_gemini import vocab

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


def _seconds(delay: Any) -> float | None:
    """A protobuf Duration in JSON: "47s", "1.5s"."""
    if isinstance(delay, str) and delay.endswith("s"):
        try:
            return max(0.0, float(delay[:-1]))
        except ValueError:
            return None
    return None


def _envelope(body: bytes) -> dict[str, Any] | None:
    try:
        obj: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, list) and obj:
        obj = obj[0]
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        return obj["error"]  # type: ignore[no-any-return]
    return None


def from_error_object(err: dict[str, Any], status: int) -> GatewayError:
    message = err.get("message") if isinstance(err.get("message"), str) else None
    rpc_status = err.get("status") if isinstance(err.get("status"), str) else None
    wait: float | None = None
    daily = False
    details = err.get("details")
    for d in details if isinstance(details, list) else ():
        if not isinstance(d, dict):
            continue
        if d.get("@type") == _RETRY_INFO:
            wait = _seconds(d.get("retryDelay"))
        elif d.get("@type") == _QUOTA_FAILURE:
            for v in d.get("violations") or ():
                if isinstance(v, dict) and "PerDay" in str(v.get("quotaId") or ""):
                    daily = True
    result = GatewayError(
        status,
        message or f"HTTP {status}",
        type=error_type_for(status),
        code=rpc_status,
        # A daily quota does not come back in seconds, but another deployment (key, project,
        # vendor) may well have quota left, so fallback is still worth it.
        retryable=status in vocab.RETRYABLE_STATUSES,
        retry_after=wait,
    )
    if daily:
        result.extra["quota"] = "daily"
    if isinstance(details, list) and details:
        result.extra["details"] = details
    return result


def map_error(response: UpstreamResponse) -> GatewayError:
    """A non-2xx answer of the Gemini API."""
    status = response.status if 400 <= response.status <= 599 else 502
    err = _envelope(response.body)
    if err is None:
        # Not Google's envelope: a proxy or load balancer answered.
        text = response.body[:300].decode("utf-8", "replace").strip()
        result = GatewayError(status, text or f"HTTP {response.status}",
                              retryable=status in vocab.RETRYABLE_STATUSES)
    else:
        result = from_error_object(err, status)
    if result.retry_after is None:
        result.retry_after = retry_after(response.headers)
    return result


# ---------------------------------------------------------------- the Gemini surface


def envelope(error: GatewayError) -> dict[str, Any]:
    status = error.code if error.code in vocab.STATUS_BY_CODE.values() else None
    out: dict[str, Any] = {
        "code": error.status,
        "message": error.message,
        "status": status or vocab.STATUS_BY_CODE.get(error.status, "UNKNOWN" if error.status >= 500 else "INVALID_ARGUMENT"),
    }
    details = error.extra.get("details")
    if isinstance(details, list):
        out["details"] = details
    elif error.retry_after is not None:
        out["details"] = [{"@type": _RETRY_INFO, "retryDelay": f"{math.ceil(error.retry_after)}s"}]
    return {"error": out}


def render_error(error: GatewayError) -> tuple[int, bytes]:
    """(status, body) in Google's envelope; the Surface's error renderer."""
    return error.status, orjson.dumps(envelope(error))
