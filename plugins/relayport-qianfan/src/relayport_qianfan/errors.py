"""Qianfan v2's error codes -> the gateway's error with a faithful status.

Qianfan answers `{"error": {"code", "message", "type"}, "id": "as-..."}` with an HTTP status
(cloud.baidu.com qianfan-api error codes). The status is kept; the code decides what a
client's SDK should do: a quota that is used up does not come back by retrying, a rate limit
does, and a prompt that is too long is OpenAI's `context_length_exceeded`.
"""

from __future__ import annotations

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import map_error

# Codes that are the same failure as one OpenAI clients already know by name.
_OPENAI_CODES = {
    "tokens_too_long": "context_length_exceeded",
    "characters_too_long": "context_length_exceeded",
    "invalid_model": "model_not_found",
    "no_such_model": "model_not_found",
}
# Rate limits (retry after a while) versus spent quota and arrears (never by waiting).
_RATE_LIMITS = frozenset({"rate_limit_exceeded", "rpm_rate_limit_exceeded", "tpm_rate_limit_exceeded",
                          "qps_rate_limit_exceeded", "concurrency_limit_exceeded"})
_NO_RETRY = frozenset({"quota_exceeded", "insufficient_quota", "account_overdue", "access_denied",
                       "permission_denied", "service_unavailable_for_account"})


def map_qianfan_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    err = map_error(response, vendor)
    code = err.code or ""
    # The 429 message sometimes names the limit (`rpm_rate_limit_exceeded`) where the code does not.
    detail = err.message.rsplit(": ", 1)[-1]
    if code in _NO_RETRY or detail in _NO_RETRY:
        err.retryable = False
        err.headers["x-should-retry"] = "false"  # OpenAI SDKs retry every 429 unless told not to
        if err.status == 429:
            err.type = "insufficient_quota"
    elif code in _RATE_LIMITS or detail in _RATE_LIMITS:
        err.retryable = True
    if code in _OPENAI_CODES:
        err.extra["vendor_code"] = code
        err.code = _OPENAI_CODES[code]
    return err
