"""Vendor response headers a client relies on, carried through the gateway.

The SDKs read them: the vendor's request id is what a vendor's support asks for; on a 429 the
rate-limit state (`x-ratelimit-*`, `anthropic-ratelimit-*`) and the retry advice (`retry-after`,
`retry-after-ms`, `x-should-retry`) tell the client's retry logic how long to wait. The gateway's
own `x-request-id` stays the gateway's, so the vendor's id travels beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

UPSTREAM_REQUEST_ID = "x-upstream-request-id"

# Where vendors put their request id, in the order tried: OpenAI and most OpenAI-compatible
# vendors, Anthropic, AWS, Azure API management.
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "apim-request-id")

_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
_RETRY_HEADERS = frozenset({"retry-after", "retry-after-ms", "x-should-retry"})


def request_id(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def for_client(headers: Mapping[str, str], status: int) -> dict[str, str]:
    """The vendor headers the client gets with an answer of `status` (names lower-cased)."""
    out: dict[str, str] = {}
    rid = request_id(headers)
    if rid:
        out[UPSTREAM_REQUEST_ID] = rid
        if "request-id" in headers:
            # Anthropic's own name, which the anthropic SDK reads (`_request_id`): kept as is.
            out["request-id"] = headers["request-id"]
    if status == 429 or status == 529:
        # The vendor's values pass unchanged: the client's own retry logic reads them.
        for name, value in headers.items():
            low = name.lower()
            if low in _RETRY_HEADERS or low.startswith(_RATE_LIMIT_PREFIXES):
                out[low] = value
    return out
