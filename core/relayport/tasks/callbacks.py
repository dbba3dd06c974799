"""`callback_url`: the final task object POSTed to the client, signed and timestamped.

The signature header is `Relayport-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256 over `<t>.<body bytes>` with `tasks.callback_secret`. A receiver recomputes it and
rejects old timestamps, so a captured callback cannot be replayed later. URLs go through
`relayport.urlguard` (no loopback or private addresses unless `[fetch] allow_private`).
"""

from __future__ import annotations

import hashlib
import hmac
import time

import aiohttp

from relayport.urlguard import FetchPolicy, check_url

SIGNATURE_HEADER = "Relayport-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, tolerance: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does (documented, and used by the tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


async def post(session: aiohttp.ClientSession, url: str, body: bytes, secret: str, policy: FetchPolicy) -> None:
    """One delivery attempt; raises on a refused URL, a network error or a non-2xx answer."""
    check_url(url, policy)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, int(time.time())),
               "User-Agent": "relayport-callback"}
    # Redirects are not followed: the guard checked this URL, not wherever it points.
    async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
        if resp.status >= 300:
            raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
