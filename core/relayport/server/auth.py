"""Gateway keys: who may call the gateway."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from relayport import calls
from relayport.config import ConfigError
from relayport.model.errors import GatewayError
from relayport.secrets import resolve_secret

if TYPE_CHECKING:
    from relayport.accounts.live import Accounts

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
BROWSER_KEY_PROTOCOL = "openai-insecure-api-key."


class KeyRing:
    """Keys kept as SHA-256 digests: a lookup never compares secrets byte by byte, and a
    memory dump or repr shows no key."""

    def __init__(self, specs: list[str], env: Mapping[str, str]) -> None:
        self._digests: set[bytes] = set()
        self._accepted: set[str] = set()
        missing: list[str] = []
        for spec in specs:
            secret = resolve_secret(spec, dict(env))
            if secret is None:
                if spec.startswith("env:"):
                    missing.append(spec[4:])
                continue
            self._digests.add(hashlib.sha256(secret.reveal().encode()).digest())
        self.missing_env = missing
        # Keys from the store (relayport.accounts), checked after these; set when serving.
        self.accounts: Accounts | None = None
        # Whether calls need a key: a plain attribute, read on every call.
        self.enabled = bool(self._digests)

    def attach(self, accounts: Accounts) -> None:
        """Also accept the store's keys; calls need a key from when the store first has one."""
        self.accounts = accounts

        def require_keys() -> None:
            self.enabled = True

        if accounts.has_keys:
            require_keys()
        accounts.on_keys.append(require_keys)

    def check(self, token: str | None) -> bool:
        if not self._digests:
            return not self.enabled  # only store keys: the caller looks there
        if token is None:
            return False
        if token in self._accepted:
            return True
        if hashlib.sha256(token.encode()).digest() not in self._digests:
            return False
        # Only keys that passed are remembered (a handful), so guessing fills nothing.
        if len(self._accepted) < 256:
            self._accepted.add(token)
        return True

    def __repr__(self) -> str:
        return f"KeyRing({len(self._digests)} keys)"


def owner_identity(request: web.Request) -> str | None:
    """Whom what a call leaves behind (media tasks, stored responses) belongs to: a store key's
    id, so that rotating its secret keeps its tasks and responses; a TOML key itself otherwise
    (callers store only a digest of it)."""
    key_id = calls.caller_id()
    return f"store-key:{key_id}" if key_id else presented_key(request)


def presented_key(request: web.Request) -> str | None:
    """The key a client sent: Bearer (OpenAI, recent Anthropic SDKs), `x-api-key` (Anthropic),
    `x-goog-api-key` or `?key=` (Gemini), `api-key` (Azure-style clients), and the
    `openai-insecure-api-key.<key>` WebSocket subprotocol (browsers on `/v1/realtime`)."""
    headers = request.headers
    auth = headers.get("Authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token:
            return token.strip()
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        value = headers.get(name)
        if value:
            return value
    offered = headers.get("Sec-WebSocket-Protocol")
    if offered:  # browsers cannot set headers on a WebSocket: OpenAI's SDK offers the key as a subprotocol
        for protocol in offered.split(","):
            protocol = protocol.strip()
            if protocol.startswith(BROWSER_KEY_PROTOCOL):
                return protocol[len(BROWSER_KEY_PROTOCOL):] or None
    return request.query.get("key")


def unauthorized(presented: bool) -> GatewayError:
    if presented:
        return GatewayError(401, "Incorrect API key provided.", type="invalid_request_error",
                            code="invalid_api_key")
    return GatewayError(
        401,
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
        type="invalid_request_error",
        code="missing_api_key",
    )


def check_bind(host: str, keyring: KeyRing, store_keys: bool = False) -> None:
    """Without keys the gateway is open to whoever reaches it, so it only binds loopback."""
    if keyring.enabled or store_keys or host in LOOPBACK_HOSTS:
        return
    hint = ""
    if keyring.missing_env:
        hint = f" (the configured key variables {', '.join(keyring.missing_env)} are not set)"
    raise ConfigError(
        f"refusing to listen on {host!r} without gateway keys{hint}: anyone who can reach it "
        "could spend your vendor keys. Set [auth] keys in the config (e.g. keys = "
        "[\"env:RELAYPORT_KEY\"]), create one with `relayport keys create`, or listen on 127.0.0.1."
    )
