"""Fetching URLs that clients name: media to inline, callbacks to call.

A client can put any URL in a request (an image to inline, a `callback_url`); fetched from the
gateway's own network, that is a server-side request forgery hole unless addresses the client
should not reach (loopback, private ranges, link-local metadata services) are refused. The check
runs where the connection is made, on every address a name resolves to and on every redirect,
so a name that resolves to 127.0.0.1 or a redirect to 169.254.169.254 is refused as well.

Vendor calls do not go through here: operators configure those URLs themselves (a local vLLM on
127.0.0.1 is normal), so they use the upstream session.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import attrs
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from relayport.model.errors import GatewayError
from relayport.model.http import REDIRECT_STATUSES, Fetched

__all__ = ["FetchPolicy", "Fetched", "check_url", "fetch", "new_fetch_session", "refused"]

_MAX_REDIRECTS = 5


@attrs.define(frozen=True)
class FetchPolicy:
    """What a client-named URL may be. Config: the `[fetch]` table."""

    # Loopback, private, link-local and other non-global addresses (tests and private setups).
    allow_private: bool = False
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 30.0


def refused(url: str, why: str) -> GatewayError:
    return GatewayError(400, f"The URL {_shown(url)} cannot be fetched: {why}.", code="invalid_url")


def _shown(url: str) -> str:
    # Never echo credentials a client put in the URL.
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"'{parts.scheme}://{host}{parts.path[:80]}'"


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse what can be refused without a lookup: the scheme, and literal addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused(url, "only http and https URLs with a host are fetched")
    if policy.allow_private:
        return
    try:
        literal = ipaddress.ip_address(parts.hostname.strip("[]"))
    except ValueError:
        if parts.hostname.rstrip(".").lower() == "localhost" or parts.hostname.endswith(".localhost"):
            raise refused(url, "it names this machine") from None
        return
    if not is_public_address(str(literal)):
        raise refused(url, "it names a private or local address")


class PublicOnlyResolver(AbstractResolver):
    """Resolves names, keeping only public addresses; none left refuses the connection."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [r for r in results if is_public_address(r["host"])]
        if not public:
            raise OSError(f"{host} resolves only to private or local addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


def new_fetch_session(policy: FetchPolicy) -> aiohttp.ClientSession:
    """A session for client-named URLs; without `allow_private` it connects to public addresses only."""
    resolver = None if policy.allow_private else PublicOnlyResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, limit=64)
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 timeout=aiohttp.ClientTimeout(total=policy.timeout))


async def fetch(session: aiohttp.ClientSession, url: str, policy: FetchPolicy) -> Fetched:
    """GET a client-named URL within the policy: size cap, timeout, address checks on each hop."""
    for _ in range(_MAX_REDIRECTS + 1):
        check_url(url, policy)
        try:
            async with session.get(url, allow_redirects=False) as resp:
                if resp.status in REDIRECT_STATUSES and "Location" in resp.headers:
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if resp.status >= 400:
                    raise refused(url, f"it answered HTTP {resp.status}")
                length = resp.content_length
                if length is not None and length > policy.max_bytes:
                    raise refused(url, f"it is larger than {policy.max_bytes} bytes")
                body = await _read_capped(resp, url, policy.max_bytes)
                return Fetched(body, resp.content_type or "application/octet-stream", url)
        except TimeoutError:
            raise refused(url, f"it did not answer within {policy.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise refused(url, _connect_reason(exc)) from None
    raise refused(url, "it redirects too many times")


async def _read_capped(resp: Any, url: str, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > cap:
            raise refused(url, f"it is larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _connect_reason(exc: aiohttp.ClientError) -> str:
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if cause is not None and "private or local" in str(cause):
        return "it resolves to a private or local address"
    return "it could not be reached"
