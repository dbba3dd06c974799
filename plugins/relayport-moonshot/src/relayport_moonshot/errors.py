"""Kimi's error envelope -> the gateway's error.

Kimi answers `{"error": {"type": "<kind>", "message"}}` with an HTTP status
(platform.kimi.ai/docs/api/errors). Its `type` says more than the status: a 429 is a rate
limit or an overloaded engine (worth retrying) or an exhausted quota (not); a 400 may be its
content filter. The vendor's type goes to `code`; `type` follows OpenAI's vocabulary.
"""

from __future__ import annotations

import orjson

from relayport.model.errors import GatewayError, error_type_for
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import error_message, map_error

QUOTA = frozenset({"exceeded_current_quota_error"})
_TOO_LONG = ("token length too long", "exceeded model token limit")


def map_moonshot_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    err = map_error(response, vendor)
    try:
        kind = error_message(orjson.loads(response.body))[1]
    except orjson.JSONDecodeError:
        return err
    if kind is None:
        return err
    err.code = err.code or kind
    err.type = error_type_for(err.status)
    if kind in QUOTA:
        err.type = "insufficient_quota"
        err.retryable = False
        if err.status == 429:
            # OpenAI SDKs retry every 429 unless told not to: a spent quota does not refill by waiting.
            err.headers["x-should-retry"] = "false"
    elif kind == "content_filter":
        err.code = "content_filter"
    elif kind == "invalid_request_error" and any(s in err.message.lower() for s in _TOO_LONG):
        err.extra["vendor_type"] = kind
        err.code = "context_length_exceeded"
    return err
