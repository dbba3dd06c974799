"""Credentials that are fetched and expire (OAuth, Entra ID, cloud keys) and request signing.

A plugin describes them on its `ProviderSpec`: `credentials` makes a `CredentialProvider` per
deployment (an object with an async `fetch`), `signer` adds a signature computed over the final
request bytes. Hooks stay synchronous and pure; the core owns the I/O: `upstream.send` asks the
deployment's `CredentialCache` for a credential before each call, signs, and on a vendor 401
refreshes once and sends the call once more.

The cache keeps a credential until shortly before it expires and fetches a new one once for
all the calls that find it stale at the same time (single flight). Credentials never appear in
reprs, logs or error messages: a failed fetch is reported by its exception type only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from relayport.model.errors import GatewayError

if TYPE_CHECKING:
    from relayport.provider import Deployment

log = logging.getLogger("relayport.credentials")

# A credential is replaced this many seconds before it expires (half its lifetime when that
# is shorter), so that a call never leaves with a token that expires on the way.
REFRESH_MARGIN = 60.0

# The clock expiry times are read against (epoch seconds, what token endpoints give);
# a module attribute so tests can move time.
clock: Callable[[], float] = time.time


@attrs.define(frozen=True, eq=False, repr=False)
class Credential:
    """What authenticates calls until `expires_at`.

    :param headers: headers added to every request (e.g. ``Authorization: Bearer ...``).
    :param expires_at: epoch seconds; None for a credential that does not expire.
    :param material: anything else a `signer` needs (e.g. AWS access key, secret and session
        token); the core never looks at it.
    """

    headers: Mapping[str, str] = attrs.field(factory=dict)
    expires_at: float | None = None
    material: Any = None

    def __repr__(self) -> str:  # never show the token
        return f"Credential(expires_at={self.expires_at!r})"


class CredentialProvider(Protocol):
    """Fetches credentials for one deployment; made by `ProviderSpec.credentials`.

    It may also have `async aclose()` (release its HTTP session): the gateway calls it on
    shutdown.
    """

    async def fetch(self) -> Credential:
        """A fresh credential. Raise `GatewayError` to give the client a specific answer;
        any other exception becomes a 502 naming only its type."""
        ...


# ProviderSpec.credentials: called once per deployment (sync, no I/O); None means the
# deployment uses its static key (`ProviderSpec.auth`) instead.
CredentialFactory = Callable[["Deployment"], "CredentialProvider | None"]


@attrs.define(eq=False, repr=False)
class OutgoingRequest:
    """The final request, as a `Signer` sees it: it adds headers to `headers` in place."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    credential: Credential | None


# ProviderSpec.signer: runs after translation and credentials, on the bytes that are sent.
Signer = Callable[["Deployment", OutgoingRequest], None]


class CredentialCache:
    """One deployment's current credential, refreshed once for all concurrent callers."""

    __slots__ = ("_provider", "_name", "_current", "_refresh_at", "_pending", "fetches")

    def __init__(self, provider: CredentialProvider, name: str) -> None:
        self._provider = provider
        self._name = name
        self._current: Credential | None = None
        self._refresh_at = 0.0
        self._pending: asyncio.Future[Credential] | None = None
        self.fetches = 0  # how many times the provider was asked (for tests and metrics)

    def __repr__(self) -> str:
        return f"CredentialCache({self._name!r})"

    async def get(self) -> Credential:
        """The current credential, fetching a new one when it is missing or about to expire."""
        current = self._current
        if current is not None and (current.expires_at is None or clock() < self._refresh_at):
            return current
        return await self._refresh()

    async def refresh(self, rejected: Credential | None) -> Credential:
        """A new credential after the vendor rejected `rejected`; calls that were rejected
        with the same one share one fetch, and one already replaced is not fetched again."""
        current = self._current
        if current is not None and current is not rejected:
            return current
        return await self._refresh()

    async def _refresh(self) -> Credential:
        pending = self._pending
        if pending is None:
            pending = self._pending = asyncio.ensure_future(self._fetch())
            pending.add_done_callback(self._fetched)
        # Shielded: a caller that goes away must not cancel the fetch the others wait for.
        return await asyncio.shield(pending)

    async def _fetch(self) -> Credential:
        self.fetches += 1
        started = clock()
        try:
            cred = await self._provider.fetch()
        except GatewayError:
            raise
        except Exception as exc:  # whatever the token endpoint or library raised
            log.warning("%s: fetching credentials failed (%s)", self._name, type(exc).__name__)
            raise credential_error(self._name, exc) from None
        if cred.expires_at is not None:
            lifetime = max(cred.expires_at - started, 0.0)
            self._refresh_at = cred.expires_at - min(REFRESH_MARGIN, lifetime / 2)
        self._current = cred
        return cred

    def _fetched(self, fut: asyncio.Future[Credential]) -> None:
        self._pending = None
        if not fut.cancelled():
            fut.exception()  # retrieved: a failure reaches the waiters, not the loop's log


async def close_all(deployments: Iterable[Deployment]) -> None:
    """On shutdown: let credential providers that hold sessions release them."""
    for dep in deployments:
        cache = dep.credential_state
        close = getattr(getattr(cache, "_provider", None), "aclose", None)
        if close is None:
            continue
        try:
            await close()
        except Exception as exc:  # shutting down: note it and go on with the others
            log.warning("%s: closing the credential provider failed (%s)", dep.provider.name, type(exc).__name__)


def credential_error(provider: str, exc: BaseException) -> GatewayError:
    # Only the exception's type: its text may quote the token endpoint's answer.
    return GatewayError(502, f"{provider}: could not obtain credentials for the vendor "
                        f"({type(exc).__name__}).", code="upstream_credentials", retryable=True)


_NONE = object()


def cache_for(dep: Deployment) -> CredentialCache | None:
    """The deployment's credential cache, made on first use; None when it uses a static key."""
    state = dep.credential_state
    if state is None:
        factory = dep.provider.credentials
        provider = None
        if factory is not None:
            try:
                provider = factory(dep)
            except GatewayError:
                raise
            except Exception as exc:  # a missing optional library, bad options
                raise credential_error(dep.provider.name, exc) from None
        state = dep.credential_state = (
            CredentialCache(provider, dep.provider.name) if provider is not None else _NONE
        )
    return state if state is not _NONE else None  # type: ignore[no-any-return]
