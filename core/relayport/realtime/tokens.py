"""Ephemeral client secrets: short-lived gateway tokens for one realtime model.

A token is self-contained and signed (HMAC-SHA256): `ek_<payload>.<signature>`, both parts
base64url; the payload names the model, the expiry and the session config to apply. Nothing
is stored, so with `[realtime] token_secret` set, tokens outlive a restart and work on every
gateway instance sharing the secret; without it, a random secret lasts for the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Any

import attrs
import orjson

PREFIX = "ek_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@attrs.define(frozen=True)
class Grant:
    model: str
    expires_at: int
    session: dict[str, Any] | None


class TokenIssuer:
    def __init__(self, secret: bytes | None = None) -> None:
        self._key = hashlib.sha256(secret).digest() if secret else os.urandom(32)

    def __repr__(self) -> str:
        return "TokenIssuer()"

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:24])

    def issue(self, model: str, ttl: float, session: dict[str, Any] | None = None,
              now: float | None = None) -> tuple[str, int]:
        expires_at = int((time.time() if now is None else now) + ttl)
        body: dict[str, Any] = {"m": model, "e": expires_at}
        if session:
            body["s"] = session
        payload = _b64(orjson.dumps(body))
        return f"{PREFIX}{payload}.{self._sign(payload)}", expires_at

    def check(self, token: str, now: float | None = None) -> Grant | None:
        """The grant of a valid, unexpired token; None for anything else."""
        if not token.startswith(PREFIX):
            return None
        payload, _, signature = token[len(PREFIX):].partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            body = orjson.loads(_unb64(payload))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(body, dict) or not isinstance(body.get("m"), str) or not isinstance(body.get("e"), int):
            return None
        if body["e"] <= (time.time() if now is None else now):
            return None
        session = body.get("s")
        return Grant(body["m"], body["e"], session if isinstance(session, dict) else None)
