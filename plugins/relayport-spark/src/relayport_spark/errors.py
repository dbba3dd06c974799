"""Spark's business codes -> the gateway's error with a faithful status.

Spark's HTTP API puts `code` (0 = success), `message` and `sid` at the top of every answer and
stream chunk; a non-zero `code` is a failure whatever the HTTP status said. The codes are
iFlytek's platform-wide ones (xfyun.cn Spark docs, error-code table; which of them the HTTP API
sends with HTTP 200 and which with 4xx is UNCONFIRMED, so both are handled): the HTTP status is
kept when it is an error status, otherwise the code decides it.
"""

from __future__ import annotations

from collections.abc import Mapping

from relayport.model.errors import GatewayError, error_type_for
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import map_error, retry_after

# code -> (status when the HTTP status said success, OpenAI code or None, retryable)
CODES: dict[int, tuple[int, str | None, bool]] = {
    10003: (400, None, False), 10004: (400, None, False), 10005: (400, None, False),  # malformed request
    10163: (400, None, False),                                                        # parameter out of range
    10013: (400, "content_filter", False),  # the input failed moderation
    10014: (400, "content_filter", False),  # the output failed moderation
    10019: (400, "content_filter", False),  # the input may touch forbidden topics
    10907: (400, "context_length_exceeded", False),
    10007: (429, None, True),   # the previous request of this user is still running
    11200: (429, "insufficient_quota", False),  # no authorisation for the model, or tokens used up
    11201: (429, "insufficient_quota", False),  # daily limit reached
    11202: (429, None, True), 11203: (429, None, True),  # per-second and concurrency limits
    10008: (503, None, True), 10009: (503, None, True), 10010: (503, None, True),
    10011: (503, None, True), 10012: (503, None, True), 10110: (503, None, True), 10222: (503, None, True),
}
CONTENT_FILTER = frozenset({10013, 10014, 10019})


def business_error(code: int, message: str | None, vendor: str, http_status: int = 200,
                   headers: Mapping[str, str] | None = None) -> GatewayError:
    """The error a non-zero Spark `code` means."""
    status, openai_code, retryable = CODES.get(code, (502, None, False))
    if http_status >= 400:
        status = http_status
    err = GatewayError(status, f"{vendor}: {message or 'error'} (code {code})",
                       code=openai_code or str(code), retryable=retryable,
                       retry_after=retry_after(headers or {}))
    err.extra["vendor_code"] = code
    if openai_code == "insufficient_quota":
        err.type = "insufficient_quota"
    elif err.type is None:
        err.type = error_type_for(status)
    if not retryable and status == 429:
        err.headers["x-should-retry"] = "false"  # OpenAI SDKs retry every 429 unless told not to
    return err


def map_spark_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    err = map_error(response, vendor)
    try:
        code = int(err.code or "")
    except ValueError:
        return err  # not Spark's envelope (e.g. the gateway in front of it said 401)
    if code == 0:
        return err
    return business_error(code, err.message.removeprefix(f"{vendor}: "), vendor, response.status, response.headers)
