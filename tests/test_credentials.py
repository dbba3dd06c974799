"""Credentials that are fetched and expire, and request signing, through a real gateway.

The vendor is FakeOpenAI taking only tokens a fake token endpoint issued and that have not
expired; the plugin's credential provider fetches them over HTTP like a real OAuth client.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from relayport import credentials, hookimpl
from relayport.credentials import Credential, OutgoingRequest
from relayport.openai_compat import OpenAICompat
from relayport.provider import Deployment, ProviderSpec
from relayport.testing.fakes import FakeOpenAI, FakeUpstream, RecordedRequest, openai_error

GW_KEY = "gw-test-key-creds"
LIFETIME = 100.0  # seconds a token lives on the fake clock; refreshed at half of it


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(credentials, "clock", c)
    return c


class TokenService:
    """A fake OAuth token endpoint and the set of tokens the vendor accepts."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.valid: dict[str, float] = {}
        self.issued = 0
        self.delay = 0.05  # a real endpoint takes a while: concurrent callers pile up meanwhile
        self.fail = False
        self._ids = itertools.count(1)
        self.server = FakeUpstream(self._token)

    async def _token(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        await asyncio.sleep(self.delay)
        if self.fail:
            return web.json_response({"error": "temporarily_unavailable",
                                      "error_description": "secret-ish detail sk-do-not-leak"}, status=503)
        self.issued += 1
        token = f"tok-{next(self._ids)}-secretvalue"
        self.valid[token] = self.clock() + LIFETIME
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME})

    def accepts(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        return token in self.valid and self.clock() < self.valid[token]


class TokenVendor(FakeOpenAI):
    def __init__(self, tokens: TokenService) -> None:
        super().__init__(api_key=None)
        self.tokens = tokens
        self.rejected = 0

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if not self.tokens.accepts(rec.headers.get("authorization")):
            self.rejected += 1
            return await self.play(request, openai_error(401, "Invalid or expired token.", code="invalid_token"))
        return await super()._answer(request, rec)


class OAuthClient:
    """What a plugin's credential provider does: ask a token endpoint, over HTTP."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url

    async def fetch(self) -> Credential:
        async with aiohttp.ClientSession() as s, s.post(self.token_url, data={"grant_type": "x"}) as r:
            if r.status != 200:
                raise RuntimeError(f"token endpoint said {r.status}: {await r.text()}")
            obj = await r.json()
        return Credential({"Authorization": "Bearer " + obj["access_token"]},
                          expires_at=credentials.clock() + obj["expires_in"])


class Plugin:
    """A vendor plugin with fetched credentials (and optionally a signer)."""

    def __init__(self, token_url: str, signer: Callable[[Deployment, OutgoingRequest], None] | None = None,
                 passthrough: bool = True) -> None:
        self.spec = ProviderSpec(
            name="tokenvendor", base_url="http://unused.invalid", auth="none",
            openai_compat=OpenAICompat(passthrough=passthrough),
            credentials=lambda dep: OAuthClient(token_url), signer=signer)

    @hookimpl
    def relayport_register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(self.spec)


@pytest.fixture
def tokens(clock: FakeClock) -> Iterator[TokenService]:
    svc = TokenService(clock)
    svc.server.start()
    yield svc
    svc.server.stop()


@pytest.fixture
def vendor(tokens: TokenService) -> Iterator[TokenVendor]:
    fake = TokenVendor(tokens)
    fake.start()
    yield fake
    fake.stop()


def start(relayport_gateway: Any, vendor: FakeOpenAI, plugin: Any) -> Any:
    return relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "tv", "provider": "tokenvendor", "model": "tv-1", "base_url": vendor.base_url}]},
        env={}, extra_plugins={"tokenvendor": plugin})


def chat(gw: Any, stream: bool = False) -> Any:
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    return client.chat.completions.create(model="tv", messages=[{"role": "user", "content": "hi"}],
                                          stream=stream)


async def post_many(gw: Any, n: int, on_progress: Callable[[int], None] | None = None) -> list[int]:
    body = orjson.dumps({"model": "tv", "messages": [{"role": "user", "content": "hi"}]})
    headers = {"Authorization": f"Bearer {GW_KEY}", "Content-Type": "application/json"}
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as s:
        async def one() -> int:
            nonlocal done
            async with s.post(gw.openai_base_url + "/chat/completions", data=body, headers=headers) as r:
                await r.read()
            done += 1
            if on_progress is not None:
                on_progress(done)
            return r.status

        return list(await asyncio.gather(*(one() for _ in range(n))))


def test_token_is_fetched_sent_and_reused(relayport_gateway, tokens, vendor):
    gw = start(relayport_gateway, vendor, Plugin(tokens.server.url + "/token"))
    assert chat(gw).choices[0].message.content == "echo: hi"
    assert "".join(c.choices[0].delta.content or "" for c in chat(gw, stream=True) if c.choices) == "echo: hi"
    assert tokens.issued == 1
    assert [r.headers["authorization"] for r in vendor.requests] == ["Bearer tok-1-secretvalue"] * 2


def test_thousand_concurrent_calls_across_an_expiry_refresh_once(relayport_gateway, tokens, vendor, clock):
    gw = start(relayport_gateway, vendor, Plugin(tokens.server.url + "/token"))
    chat(gw)
    assert tokens.issued == 1

    def progress(done: int) -> None:
        if done == 300:  # a third of the calls are through: the token is now due for refresh
            clock.now += LIFETIME * 0.75

    statuses = asyncio.run(post_many(gw, 1000, progress))
    assert statuses == [200] * 1000
    assert tokens.issued == 2  # exactly one refresh for all the calls that found it stale
    assert vendor.rejected == 0  # refreshed before expiry: the vendor never saw a stale token
    used = {r.headers["authorization"] for r in vendor.requests}
    assert used == {"Bearer tok-1-secretvalue", "Bearer tok-2-secretvalue"}


def test_vendor_401_refreshes_once_and_retries(relayport_gateway, tokens, vendor):
    gw = start(relayport_gateway, vendor, Plugin(tokens.server.url + "/token"))
    chat(gw)
    tokens.valid.clear()  # the vendor revokes the token before it expires
    statuses = asyncio.run(post_many(gw, 20))
    assert statuses == [200] * 20
    assert tokens.issued == 2  # one refresh shared by the 20 rejected calls
    assert vendor.rejected == 20
    assert vendor.requests[-1].headers["authorization"] == "Bearer tok-2-secretvalue"
    # A stream too: the retry happens before the first byte.
    tokens.valid.clear()
    text = "".join(c.choices[0].delta.content or "" for c in chat(gw, stream=True) if c.choices)
    assert text == "echo: hi" and tokens.issued == 3


def test_401_after_refresh_reaches_the_client_after_one_retry(relayport_gateway, tokens, vendor):
    gw = start(relayport_gateway, vendor, Plugin(tokens.server.url + "/token"))
    chat(gw)
    vendor.tokens = TokenService(tokens.clock)  # the vendor takes none of our tokens now
    before = len(vendor.requests)
    with pytest.raises(openai.AuthenticationError) as err:
        chat(gw)
    assert err.value.status_code == 401
    assert len(vendor.requests) - before == 2  # the call and its one retry
    assert tokens.issued == 2


def test_failing_token_endpoint_is_a_clear_502_without_secrets(relayport_gateway, tokens, vendor, caplog):
    gw = start(relayport_gateway, vendor, Plugin(tokens.server.url + "/token"))
    tokens.fail = True
    caplog.set_level(logging.DEBUG)

    async def call() -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as s, s.post(
            gw.openai_base_url + "/chat/completions", headers={"Authorization": f"Bearer {GW_KEY}"},
            json={"model": "tv", "messages": [{"role": "user", "content": "hi"}]},
        ) as r:
            return r.status, await r.json()

    status, body = asyncio.run(call())
    assert status == 502
    assert body["error"]["code"] == "upstream_credentials"
    assert "tokenvendor" in body["error"]["message"] and "RuntimeError" in body["error"]["message"]
    assert "sk-do-not-leak" not in orjson.dumps(body).decode()
    assert "sk-do-not-leak" not in caplog.text
    assert not vendor.requests  # nothing went out unauthenticated
    tokens.fail = False  # the endpoint recovers: the next call fetches again and works
    assert chat(gw).choices[0].message.content == "echo: hi"
    assert "secretvalue" not in caplog.text


class Refusing:
    async def fetch(self) -> Credential:
        from relayport.model.errors import GatewayError
        raise GatewayError(401, "tokenvendor: the identity was refused (check its client id).",
                           code="upstream_credentials")


def test_provider_can_choose_the_clients_status(relayport_gateway, vendor):
    plugin = Plugin("http://unused.invalid")
    plugin.spec = ProviderSpec(name="tokenvendor", base_url="http://unused.invalid", auth="none",
                               openai_compat=OpenAICompat(), credentials=lambda dep: Refusing())
    gw = start(relayport_gateway, vendor, plugin)
    with pytest.raises(openai.AuthenticationError) as err:
        chat(gw)
    assert "identity was refused" in str(err.value)


def test_tokens_stay_out_of_reprs_and_plugins_listing(relayport_gateway, tokens, vendor):
    plugin = Plugin(tokens.server.url + "/token")
    gw = start(relayport_gateway, vendor, plugin)
    chat(gw)
    cred = Credential({"Authorization": "Bearer tok-1-secretvalue"}, expires_at=1.0, material="aws-secret")
    assert "secretvalue" not in repr(cred) and "aws-secret" not in repr(cred)
    cache = credentials.CredentialCache(OAuthClient("x"), "tokenvendor")
    assert "secretvalue" not in repr(cache)
    listing = asyncio.run(_get(gw.url + "/-/plugins"))
    assert b"secretvalue" not in listing and b"tokenvendor" in listing


async def _get(url: str) -> bytes:
    async with aiohttp.ClientSession() as s, s.get(url, headers={"Authorization": f"Bearer {GW_KEY}"}) as r:
        return await r.read()


# ---------------------------------------------------------------- signing

SIGNING_KEY = b"hmac-test-secret"


def hmac_signer(dep: Deployment, req: OutgoingRequest) -> None:
    """Signs method, URL and the final body bytes, like SigV4 does in spirit."""
    assert req.credential is not None  # credentials come first: signers may need them
    msg = req.method.encode() + b"\n" + req.url.encode() + b"\n" + (req.body or b"")
    req.headers["x-signature"] = hmac.new(SIGNING_KEY, msg, hashlib.sha256).hexdigest()


class SignedVendor(TokenVendor):
    """Verifies the signature over what actually arrived."""

    def __init__(self, tokens: TokenService) -> None:
        super().__init__(tokens)
        self.verified = 0

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        msg = request.method.encode() + b"\n" + str(request.url).encode() + b"\n" + rec.body
        expected = hmac.new(SIGNING_KEY, msg, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(rec.headers.get("x-signature", ""), expected):
            return await self.play(request, openai_error(403, "Signature mismatch.", code="bad_signature"))
        self.verified += 1
        return await super()._answer(request, rec)


@pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "translated"])
def test_signer_signs_the_final_bytes(relayport_gateway, tokens, passthrough):
    vendor = SignedVendor(tokens)
    vendor.start()
    try:
        gw = start(relayport_gateway, vendor, Plugin(tokens.server.url + "/token", hmac_signer, passthrough))
        assert chat(gw).choices[0].message.content == "echo: hi"
        assert "".join(c.choices[0].delta.content or "" for c in chat(gw, stream=True) if c.choices) == "echo: hi"
        assert vendor.verified == 2
        assert vendor.requests[0].json()["model"] == "tv-1"  # signed after the model was rewritten
        # A 401 retry is signed again with the new credential.
        tokens.valid.clear()
        assert chat(gw).choices[0].message.content == "echo: hi"
        assert vendor.verified == 4 and tokens.issued == 2  # the rejected try and the retry
    finally:
        vendor.stop()


def test_signer_alone_without_credentials(relayport_gateway):
    """A signer on a provider with a static key (AWS keys in config): no credential object."""
    seen: list[OutgoingRequest] = []

    def signer(dep: Deployment, req: OutgoingRequest) -> None:
        seen.append(req)
        req.headers["x-signature"] = hashlib.sha256(req.body or b"").hexdigest()

    fake = FakeOpenAI()
    fake.start()
    try:
        plugin = Plugin("unused")
        plugin.spec = ProviderSpec(name="tokenvendor", base_url="http://unused.invalid", key_env=(),
                                   openai_compat=OpenAICompat(), signer=signer)
        gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
            {"name": "tv", "provider": "tokenvendor", "model": "tv-1", "base_url": fake.base_url,
             "api_key": fake.api_key}]}, env={}, extra_plugins={"tokenvendor": plugin})
        assert chat(gw).choices[0].message.content == "echo: hi"
        assert seen[0].credential is None
        assert fake.last.headers["x-signature"] == hashlib.sha256(fake.last.body).hexdigest()
    finally:
        fake.stop()
