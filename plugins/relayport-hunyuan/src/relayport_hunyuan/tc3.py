"""Tencent Cloud API 3.0 signing (TC3-HMAC-SHA256) as a `ProviderSpec.signer`.

Tencent Cloud's own APIs (here the VCLM video API) take no bearer key: every call is a POST to
`/` with the action in `X-TC-Action`, signed with a SecretId/SecretKey pair over the method,
path, `content-type` and `host` headers and the body's SHA-256. The signer runs on the bytes the
gateway sends, with a fresh timestamp on every try. The key is configured as
`SecretId|SecretKey`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from relayport.credentials import OutgoingRequest, Signer
from relayport.model import GatewayError
from relayport.provider import Deployment

ALGORITHM = "TC3-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"


def keys(deployment: Deployment) -> tuple[str, str]:
    key = deployment.api_key.reveal() if deployment.api_key else ""
    secret_id, sep, secret_key = key.partition("|")
    if not sep or not secret_id or not secret_key:
        raise GatewayError(500, f"{deployment.provider.name}: the key must be 'SecretId|SecretKey'.",
                           code="bad_vendor_key")
    return secret_id, secret_key


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def authorization(secret_id: str, secret_key: str, service: str, host: str, content_type: str, body: bytes,
                  timestamp: int, method: str = "POST", path: str = "/", query: str = "") -> str:
    """The `Authorization` header value for one request (Tencent Cloud's signature v3)."""
    canonical = "\n".join([method, path, query, f"content-type:{content_type}\nhost:{host}\n", SIGNED_HEADERS,
                           hashlib.sha256(body).hexdigest()])
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join([ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"


def tc3_signer(service: str, clock: Callable[[], float] = time.time) -> Signer:
    """A signer for Tencent Cloud `service` (e.g. "vclm"); `X-TC-Action`/`X-TC-Version`/`X-TC-Region`
    are the plugin's, set when it builds the request."""

    def sign(deployment: Deployment, request: OutgoingRequest) -> None:
        parts = urlsplit(request.url)
        host = parts.netloc
        if host != urlsplit(deployment.base_url).netloc or parts.path not in ("", "/"):
            # Not an API call (all are `POST /` on the API host): a result download from object
            # storage (COS), whose URL is pre-signed; an `Authorization` header there would be
            # read as a COS signature and refused, and the SecretId has no business there.
            return
        secret_id, secret_key = keys(deployment)
        content_type = request.headers.get("Content-Type", "application/json; charset=utf-8")
        request.headers["Content-Type"] = content_type
        timestamp = int(clock())
        request.headers["Host"] = host
        request.headers["X-TC-Timestamp"] = str(timestamp)
        request.headers["Authorization"] = authorization(
            secret_id, secret_key, service, host, content_type, request.body or b"", timestamp,
            request.method, parts.path or "/", parts.query)

    return sign
