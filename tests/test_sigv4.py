"""relayport.sigv4: botocore's SigV4 signer on the final bytes, verified by a fake with botocore."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

pytest.importorskip("botocore", reason="relayport[aws] not installed")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from relayport import hookimpl  # noqa: E402
from relayport.credentials import Credential  # noqa: E402
from relayport.openai_compat import OpenAICompat  # noqa: E402
from relayport.provider import ProviderSpec  # noqa: E402
from relayport.sigv4 import AwsKeys, aws_credentials, sigv4_signer  # noqa: E402
from relayport.testing.fakes import FakeOpenAI, RecordedRequest, openai_error  # noqa: E402

ACCESS, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-do-not-leak"
GW_KEY = "gw-sigv4"
AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                  r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")


class SigV4Vendor(FakeOpenAI):
    """Recomputes the signature with botocore from what arrived; 403 when it differs."""

    def __init__(self, secret: str = SECRET) -> None:
        super().__init__(api_key=None)
        self.secret = secret
        self.verified: list[tuple[str, str]] = []  # (region, service)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        m = AUTH.fullmatch(rec.headers.get("authorization", ""))
        if m is None:
            return await self.play(request, openai_error(403, "Missing Authentication Token"))
        access, _, region, service, signed, signature = m.groups()
        aws = AWSRequest(method=request.method, url=str(request.url), data=rec.body,
                         headers={h: rec.headers[h] for h in signed.split(";")})
        aws.context["timestamp"] = rec.headers["x-amz-date"]
        auth = SigV4Auth(Credentials(access, self.secret, rec.headers.get("x-amz-security-token")),
                         service, region)
        expected = auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws)
        if access != ACCESS or expected != signature or "x-amz-security-token" not in signed.split(";"):
            return await self.play(request, openai_error(403, "The request signature we calculated does not "
                                                         "match the signature you provided."))
        self.verified.append((region, service))
        return await super()._answer(request, rec)


class StaticKeys:
    async def fetch(self) -> Credential:
        return Credential(material=AwsKeys(ACCESS, SECRET, TOKEN))


class Plugin:
    def __init__(self, credentials: Callable[[Any], Any], passthrough: bool = True) -> None:
        self.spec = ProviderSpec(name="awsvendor", base_url="https://unused.invalid", auth="none",
                                 openai_compat=OpenAICompat(passthrough=passthrough),
                                 credentials=credentials, signer=sigv4_signer("bedrock"))

    @hookimpl
    def relayport_register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(self.spec)


@pytest.fixture
def vendor() -> Iterator[SigV4Vendor]:
    fake = SigV4Vendor()
    fake.start()
    yield fake
    fake.stop()


def gateway(relayport_gateway: Any, vendor: FakeOpenAI, plugin: Plugin, **options: Any) -> Any:
    return relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "m", "provider": "awsvendor", "model": "anthropic.claude-x", "base_url": vendor.base_url,
         "options": options}]}, env={}, extra_plugins={"awsvendor": plugin})


def ask(gw: Any, stream: bool = False) -> str:
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    resp = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=stream)
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in resp if c.choices)
    return resp.choices[0].message.content or ""


@pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "translated"])
def test_botocore_signature_verifies(relayport_gateway, vendor, passthrough):
    gw = gateway(relayport_gateway, vendor, Plugin(lambda dep: StaticKeys(), passthrough), region="eu-west-3")
    assert ask(gw) == "echo: hi"
    assert ask(gw, stream=True) == "echo: hi"
    assert vendor.verified == [("eu-west-3", "bedrock")] * 2
    assert vendor.last.headers["x-amz-security-token"] == TOKEN
    assert vendor.last.json()["model"] == "anthropic.claude-x"  # signed after the rewrite


def test_wrong_secret_is_refused_by_the_verifier(relayport_gateway):
    fake = SigV4Vendor(secret="another-secret")
    fake.start()
    try:
        gw = gateway(relayport_gateway, fake, Plugin(lambda dep: StaticKeys()))
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw)
        assert not fake.verified
    finally:
        fake.stop()


def test_keys_from_botocores_chain(relayport_gateway, vendor, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    gw = gateway(relayport_gateway, vendor, Plugin(aws_credentials))
    assert ask(gw) == "echo: hi"
    assert vendor.verified == [("ap-northeast-1", "bedrock")]


def test_keys_stay_out_of_reprs():
    keys = AwsKeys(ACCESS, SECRET, TOKEN)
    cred = Credential(material=keys)
    assert SECRET not in repr(keys) and TOKEN not in repr(cred) and ACCESS not in repr(keys)


def test_signer_bug_is_a_clear_500(relayport_gateway, vendor):
    class NoKeys:
        async def fetch(self) -> Credential:
            return Credential()  # no AwsKeys: the signer refuses

    gw = gateway(relayport_gateway, vendor, Plugin(lambda dep: NoKeys()))
    with pytest.raises(openai.InternalServerError) as err:
        ask(gw)
    assert "SigV4 signing needs AWS keys" in err.value.message
    assert not vendor.requests
