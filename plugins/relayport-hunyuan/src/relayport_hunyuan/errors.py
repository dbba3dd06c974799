"""Hunyuan's errors -> the gateway's error with a faithful status.

The OpenAI-compatible endpoint answers `{"error": {"id", "message", "type", "param", "code"}}`
with an HTTP status and a numeric business code as a string (a recorded 400 has code "1001" for
a conversation whose roles do not alternate). Tencent Cloud's own codes may appear in `code`
too (UNCONFIRMED for this endpoint): those saying the account cannot pay or the service is off
do not clear by retrying.
"""

from __future__ import annotations

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import map_error

# Tencent Cloud codes (Hunyuan's native API) for an account that cannot be served until
# someone pays or switches the service on.
_NO_RETRY_PREFIXES = ("ResourceInsufficient.", "FailedOperation.ServiceNotActivated",
                      "FailedOperation.ServiceStop", "FailedOperation.UserUnAuthError",
                      "UnauthorizedOperation.")
_CONTENT_FILTER = ("OperationDenied.TextIllegalDetected", "OperationDenied.ImageIllegalDetected",
                   "FailedOperation.ContentModeration")


def map_hunyuan_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    err = map_error(response, vendor)
    code = err.code or ""
    if code.startswith(_NO_RETRY_PREFIXES):
        err.retryable = False
        err.headers["x-should-retry"] = "false"  # OpenAI SDKs retry every 429 unless told not to
        if err.status == 429:
            err.type = "insufficient_quota"
    elif code.startswith(_CONTENT_FILTER):
        err.extra["vendor_code"] = code
        err.code = "content_filter"
    return err
