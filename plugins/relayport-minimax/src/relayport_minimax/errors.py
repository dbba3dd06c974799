"""MiniMax's failures -> the gateway's errors, whatever HTTP status they came with.

MiniMax reports a failure as `base_resp: {status_code, status_msg}` in the body, and on its chat
endpoints that body often arrives with HTTP 200; its OpenAI-style answers carry the same number
at the end of the message instead (`"insufficient balance (1008)"`), with a status that varies
by endpoint (1008 has been seen as 402, 429 and 500). The business code says what happened, so
it decides the status and whether another deployment may be tried: a balance or quota error
is never retried, a rate limit is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from relayport.model.errors import GatewayError
from relayport.vendor_errors import retry_after


@attrs.define(frozen=True)
class Code:
    status: int
    retryable: bool
    # The OpenAI envelope's `code` clients branch on; MiniMax's number stays in the message.
    name: str | None = None


# From MiniMax's error-code page (platform.minimax.io/docs/api-reference/errorcode), except
# where marked "third-party" (codes seen in public client code, not on that page).
CODES: dict[int, Code] = {
    1000: Code(500, True),                             # unknown error
    1001: Code(504, True),                             # request timeout
    1002: Code(429, True, "rate_limit_exceeded"),      # rate limit
    1004: Code(401, False, "invalid_api_key"),         # not authorized / key does not match
    1008: Code(402, False, "insufficient_balance"),    # insufficient balance
    1024: Code(500, True),                             # internal error
    1026: Code(400, False, "content_filter"),          # input new_sensitive (third-party)
    1027: Code(400, False, "content_filter"),          # output new_sensitive (third-party)
    1033: Code(500, True),                             # system error (third-party)
    1039: Code(429, True, "rate_limit_exceeded"),      # token-per-minute limit
    1041: Code(429, True, "rate_limit_exceeded"),      # connection limit (third-party)
    1042: Code(400, False, "invalid_request"),         # illegal/invisible characters (third-party)
    2013: Code(400, False, "invalid_request"),         # invalid params
    2045: Code(429, True, "rate_limit_exceeded"),      # rate growth limit (third-party)
    2049: Code(401, False, "invalid_api_key"),         # invalid api key (third-party)
    2056: Code(429, False, "insufficient_quota"),      # plan usage limit (third-party)
}

_TRAILING_CODE = re.compile(r"\((\d{4,5})\)\s*$")


def vendor_code(obj: Any) -> tuple[int | None, str | None]:
    """(MiniMax's business code, its message) from any of its error bodies; (None, ...) if none."""
    if not isinstance(obj, Mapping):
        return None, None
    base = obj.get("base_resp")
    if isinstance(base, Mapping):
        code = base.get("status_code")
        if isinstance(code, int) and code != 0:
            return code, str(base.get("status_msg") or "")
    err = obj.get("error")
    if isinstance(err, Mapping):
        message = str(err.get("message") or "")
        found = _TRAILING_CODE.search(message)
        if found:
            return int(found.group(1)), message[: found.start()].strip()
        code = err.get("code")
        if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
            return int(code), message
        return None, message or None
    return None, None


def business_error(code: int, message: str | None, http_status: int = 200,
                   headers: Mapping[str, str] | None = None, where: str = "") -> GatewayError:
    """The gateway error for MiniMax code `code`; unknown codes keep a 4xx/5xx status (else 502)."""
    known = CODES.get(code)
    if known is not None:
        status, retryable, name = known.status, known.retryable, known.name
    else:
        status = http_status if 400 <= http_status <= 599 else 502
        retryable, name = False, None  # an unknown business code is not known to be passing
    text = message or "error"
    return GatewayError(
        status, f"minimax{where}: {text} ({code})", code=name or str(code), retryable=retryable,
        retry_after=retry_after(headers) if headers else None, extra={"vendor_code": code},
    )


def check_body(obj: Mapping[str, Any], where: str = "") -> None:
    """Raise the error a 200 body reports in `base_resp` (or an `error` object), if any."""
    code, message = vendor_code(obj)
    if code is not None:
        raise business_error(code, message, where=where)
    if "error" in obj and not obj.get("choices"):
        raise GatewayError(502, f"minimax{where}: {message or obj['error']}")
