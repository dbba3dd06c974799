"""DashScope's error envelopes and business codes -> the gateway's errors.

Two envelopes reach us: the compatible mode's OpenAI-like
`{"error": {"code", "message", "type", "param"}, "request_id"}` (codes in snake_case, e.g.
`data_inspection_failed`, or the native spelling, e.g. `Arrearage`), and the native API's flat
`{"code", "message", "request_id"}`. The core's reader understands both shapes; this module
fixes what their codes mean: content-safety blocks are a 400 the client can recognise, and
billing or exhausted-quota errors are never retried on another attempt (they would fail the
same way), even when DashScope sends them as 429.
"""

from __future__ import annotations

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import error_message
from relayport.vendor_errors import map_error as core_map_error

# Content inspection (input or output): compat `data_inspection_failed`, native `DataInspectionFailed`.
_CONTENT_FILTER = frozenset({"datainspectionfailed", "data_inspection_failed"})
# Billing and quota that waiting does not fix.
_BILLING = frozenset({
    "arrearage", "insufficient_quota", "allocationquota.freetieronly", "accessdenied.unpurchased",
    "quota_exceeded",
})
_AUTH = frozenset({"invalidapikey", "invalid_api_key"})


def _norm(code: str | None) -> str:
    return (code or "").lower()


def classify(err: GatewayError) -> GatewayError:
    """Adjust a gateway error read from a DashScope envelope by its business code."""
    code = _norm(err.code)
    if code in _CONTENT_FILTER:
        err.status = 400
        err.type = "invalid_request_error"
        err.code = "content_filter"
        err.retryable = False
        err.message = f"{err.message} (blocked by DashScope's content inspection)"
    elif code in _BILLING or code.startswith("arrearage"):
        err.type = "insufficient_quota"
        err.retryable = False
    elif code in _AUTH:
        err.status = 401
        err.retryable = False
    elif code.startswith("throttling"):
        err.status = 429
        err.retryable = True
    return err


def map_error(response: UpstreamResponse) -> GatewayError:
    return classify(core_map_error(response, "dashscope"))


def error_from_event(obj: dict, status: int = 502) -> GatewayError:
    """The error a stream event or a 200 body carries, in either envelope."""
    message, kind, code, param = error_message(obj)
    code = code or kind
    err = GatewayError(status, f"dashscope: {message or 'the vendor failed'}",
                       type=kind if kind and kind.islower() else None, code=code, param=param)
    return classify(err)
