"""Ark's error envelope -> the gateway's errors, before a stream starts and inside one.

Ark answers `{"error": {"code", "message", "param", "type"}}` where `type` is the HTTP reason
phrase ("BadRequest", "TooManyRequests") and `code` says what happened
(`InvalidParameter.OversizedImage`, `RateLimitExceeded.EndpointRPMExceeded`,
`AccountOverdueError`...; volcengine.com/docs/82379/1299023). Inside a stream the same object
arrives as `data: {"error": ...}` or as an `event: error` (the Ark SDK checks both), with no
HTTP status to go by: the reason phrase gives it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayport.model.errors import GatewayError
from relayport.vendor_errors import RETRYABLE_STATUSES, retry_after

_REASONS = {
    "BadRequest": 400, "Unauthorized": 401, "PaymentRequired": 402, "Forbidden": 403,
    "NotFound": 404, "RequestTimeout": 408, "TooManyRequests": 429,
    "InternalServerError": 500, "InternalError": 500, "BadGateway": 502,
    "ServiceUnavailable": 503, "GatewayTimeout": 504,
}
# Billing and quota: waiting or another try with the same account cannot help.
_NEVER_RETRY = ("AccountOverdueError", "QuotaExceeded", "ServiceOverdue", "OperationDenied.ServiceOverdue",
                "ModelNotOpen", "AccessDenied", "AuthenticationError")
# Content safety codes: input/output text, image or video flagged.
_SAFETY = ("SensitiveContentDetected", "RiskDetection", "SensitiveContent")


def ark_error(err: Mapping[str, Any], http_status: int | None = None,
              headers: Mapping[str, str] | None = None, where: str = "") -> GatewayError:
    code = str(err.get("code") or "") or None
    kind = err.get("type")
    message = str(err.get("message") or "error")
    if http_status is not None and 400 <= http_status <= 599:
        status = http_status
    else:
        status = _REASONS.get(str(kind), 500 if code and "Internal" in code else 502)
    retryable = status in RETRYABLE_STATUSES
    if code and code.startswith(_NEVER_RETRY):
        retryable = False
    name = code
    if code and any(s in code for s in _SAFETY):
        name, message = "content_filter", f"{message} ({code})"
    if code == "InvalidEndpointOrModel.ModelIDAccessDisabled":
        message += " (this account reaches the model through an endpoint: use its id, ep-..., as the model)"
    return GatewayError(status, f"doubao{where}: {message}", code=name, param=err.get("param"),
                        retryable=retryable, retry_after=retry_after(headers) if headers else None,
                        extra={"vendor_code": code, "vendor_type": kind})


def envelope_error(obj: Any, http_status: int | None = None, headers: Mapping[str, str] | None = None,
                   where: str = "") -> GatewayError | None:
    if isinstance(obj, Mapping) and isinstance(obj.get("error"), Mapping):
        return ark_error(obj["error"], http_status, headers, where)
    return None
