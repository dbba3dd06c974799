"""GLM's business error codes -> the gateway's error with a faithful status.

GLM answers errors with an HTTP status and `{"error": {"code": "<business code>", "message"}}`
(docs.z.ai/api-reference/api-code). The HTTP status alone misleads: 429 carries both rate
limits (1302, worth retrying) and an account in arrears (1113, never worth retrying).
"""

from __future__ import annotations

from relayport.model.errors import GatewayError, error_type_for
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import map_error

# code -> (status, OpenAI error type or None for the status's own, retryable)
BUSINESS_CODES: dict[str, tuple[int, str | None, bool]] = {
    # auth
    "1000": (401, None, False), "1001": (401, None, False), "1002": (401, None, False),
    "1003": (401, None, False), "1004": (401, None, False),
    # account: inactive, missing, locked, in arrears, irregular
    "1110": (403, None, False), "1111": (403, None, False), "1112": (403, None, False),
    "1113": (429, "insufficient_quota", False), "1121": (403, None, False),
    # parameters, model, permission
    "1210": (400, None, False), "1211": (404, None, False), "1212": (400, None, False),
    "1213": (400, None, False), "1214": (400, None, False), "1215": (400, None, False),
    "1220": (403, None, False), "1221": (404, None, False), "1222": (404, None, False),
    "1261": (400, None, False),
    "1234": (502, None, True),  # "network error", a fault on their side
    # policy: unsafe content, then concurrency and rate limits
    "1301": (400, None, False),
    "1302": (429, None, True), "1303": (429, None, True), "1305": (429, None, True),
}

CONTENT_FILTER = "1301"
PROMPT_TOO_LONG = "1261"


def map_zhipu_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    err = map_error(response, vendor)
    found = BUSINESS_CODES.get(err.code or "")
    if found is None:
        return err
    status, kind, retryable = found
    err.status = status
    err.type = kind or error_type_for(status)  # GLM sends no type: it follows the status
    err.retryable = retryable
    if not retryable and status == 429:
        # OpenAI SDKs retry every 429 unless told not to: arrears do not clear by waiting.
        err.headers["x-should-retry"] = "false"
    if err.code == CONTENT_FILTER:
        err.extra["vendor_code"] = err.code
        err.code = "content_filter"
    elif err.code == PROMPT_TOO_LONG:
        err.extra["vendor_code"] = err.code
        err.code = "context_length_exceeded"
    return err
