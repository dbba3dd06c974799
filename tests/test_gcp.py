"""relayport.gcp: where Vertex AI calls go and the Google credentials they carry (google-auth
against the kit's fake token endpoint)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from relayport import credentials, gcp
from relayport.model.errors import GatewayError
from relayport.provider import Deployment, ProviderSpec
from relayport.secrets import Secret
from relayport.testing.google_oauth import FakeGoogleOAuth

SPEC = ProviderSpec(name="vx", base_url=gcp.GLOBAL_HOST, auth="bearer", credentials=gcp.vertex_credentials)


def dep(base_url: str = gcp.GLOBAL_HOST, key: str | None = None, model: str = "claude-opus-4-1@20250805",
        **options: Any) -> Deployment:
    return Deployment(name="m", provider=SPEC, model=model, base_url=base_url,
                      api_key=Secret(key) if key else None, hooks=None, options=options)


@pytest.fixture(autouse=True)
def no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def oauth() -> Iterator[FakeGoogleOAuth]:
    fake = FakeGoogleOAuth(lifetime=1200).start()
    yield fake
    fake.stop()


def test_urls_by_location_and_base_url():
    assert gcp.model_url(dep(project="p"), "anthropic", "rawPredict") == (
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/anthropic/models/"
        "claude-opus-4-1@20250805:rawPredict")
    assert gcp.model_url(dep(project="p", location="asia-northeast1"), "google", "countTokens",
                         model="gemini-2.5-flash") == (
        "https://asia-northeast1-aiplatform.googleapis.com/v1/projects/p/locations/asia-northeast1/publishers/"
        "google/models/gemini-2.5-flash:countTokens")
    # A configured base_url (a proxy) replaces the host; a /v1 on it is not doubled.
    assert gcp.model_url(dep("https://vertex.proxy.internal/v1", project="p", location="us-east5"), "anthropic",
                         "rawPredict").startswith("https://vertex.proxy.internal/v1/projects/p/locations/us-east5/")


def test_project_and_location_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west1")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    assert gcp.project(dep()) == "env-project" and gcp.location(dep()) == "europe-west1"
    assert gcp.project(dep(project="opt-project")) == "opt-project"  # options win
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    key = tmp_path / "sa.json"
    key.write_bytes(orjson.dumps({"type": "service_account", "project_id": "file-project"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    assert gcp.project(dep()) == "file-project"  # the ADC key file names its project


def test_no_project_is_a_clear_error():
    with pytest.raises(GatewayError) as err:
        gcp.model_url(dep(), "google", "generateContent")
    assert err.value.status == 500 and "options.project" in err.value.message


def test_a_key_is_a_plain_token_and_needs_no_provider():
    assert gcp.vertex_credentials(dep(key="ya29.static")) is None


def test_service_account_token_on_the_core_clock(oauth, tmp_path, monkeypatch):
    monkeypatch.setattr(credentials, "clock", lambda: 1_000_000.0)  # far from the wall clock
    provider = gcp.vertex_credentials(dep(credentials_file=oauth.service_account_file(tmp_path)))
    assert provider is not None and "PRIVATE" not in repr(provider)
    cred = asyncio.run(provider.fetch())
    assert list(cred.headers) == ["authorization"] and oauth.accepts(cred.headers["authorization"])
    # The lifetime the endpoint gave, counted from the core's clock (a second of slack for the call).
    assert cred.expires_at is not None and 1_000_000 + 1190 <= cred.expires_at <= 1_000_000 + 1200
    again = asyncio.run(provider.fetch())  # every fetch is a refresh: the core asks only when due
    assert again.headers != cred.headers and oauth.issued == 2
    pools = provider._transport.session.adapters["http://"].poolmanager.pools
    assert len(pools) == 1  # the kept-alive connection to the token endpoint
    asyncio.run(provider.aclose())  # the gateway's shutdown closes google-auth's HTTP session
    assert len(pools) == 0


def test_missing_or_unusable_credentials_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud login to fall back on
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # and no metadata server probe
    with pytest.raises(GatewayError) as err:
        asyncio.run(gcp.GoogleCredentials().fetch())
    assert err.value.status == 500 and "No usable Google credentials" in err.value.message
    other = tmp_path / "wif.json"
    other.write_bytes(orjson.dumps({"type": "external_account", "audience": "x"}))
    with pytest.raises(GatewayError) as err:
        asyncio.run(gcp.GoogleCredentials(str(other)).fetch())
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err.value.message
