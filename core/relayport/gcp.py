"""Google Cloud access for vendor plugins (Vertex AI), with google-auth (`relayport[gcp]`).

Vertex AI serves Gemini (relayport-gemini's `vertex` provider) and partner models such as
Claude (relayport-anthropic's `vertex-anthropic`) under one URL scheme and one kind of
credential, so both plugins use this module rather than each carrying a copy:

    SPEC = ProviderSpec(..., auth="bearer", credentials=gcp.vertex_credentials)
    url = gcp.model_url(dep, "google", "generateContent")

Credentials, in order: a plain access token (the model's `api_key`, or the provider's
`key_env`, e.g. from `gcloud auth print-access-token`; sent as is, never refreshed); else a
credentials file (`options.credentials_file`: a service-account key, or any file google-auth
loads); else Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
login, the metadata server on Google Cloud). google-auth signs the service account's JWT and
talks to the token endpoint; the core caches the access token and refreshes it once for all
calls shortly before it expires (`relayport.credentials`).

Where: `options.project` (else `GOOGLE_CLOUD_PROJECT`, else the `project_id` of the
service-account file) and `options.location` (else `GOOGLE_CLOUD_LOCATION`, else "global").
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import os
import urllib.parse
from typing import Any

import attrs
import orjson

from relayport import credentials
from relayport.credentials import Credential
from relayport.model.errors import GatewayError
from relayport.provider import Deployment

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_LOCATION = "global"
# The host for `location = "global"`; regional endpoints are `{location}-aiplatform.googleapis.com`.
GLOBAL_HOST = "https://aiplatform.googleapis.com"
API_VERSION = "v1"


def _google_auth() -> Any:
    try:
        import google.auth
        import google.auth.transport.requests  # noqa: F401  (the HTTP transport google-auth refreshes with)
    except ImportError:
        raise GatewayError(500, "Vertex AI without an access token needs google-auth: "
                           "pip install 'relayport[gcp]'", code="upstream_credentials") from None
    return google.auth


@attrs.define(repr=False)
class GoogleCredentials:
    """A `CredentialProvider` over google-auth credentials (a file's, or the default ones).

    google-auth is synchronous, so loading and refreshing run in a thread; the core's single
    flight means at most one refresh runs at a time.
    """

    file: str | None = None
    scopes: tuple[str, ...] = (SCOPE,)
    _creds: Any = attrs.field(default=None, init=False)
    _transport: Any = attrs.field(default=None, init=False)

    async def fetch(self) -> Credential:
        return await asyncio.to_thread(self._refresh)

    def _refresh(self) -> Credential:
        auth = _google_auth()
        if self._creds is None:
            try:
                self._creds = _from_file(self.file, self.scopes) if self.file else \
                    auth.default(scopes=list(self.scopes))[0]
            except auth.exceptions.DefaultCredentialsError as exc:
                # Says which file or which sources were tried; no secret is in it.
                raise GatewayError(500, f"No usable Google credentials: {exc}", code="upstream_credentials") from None
            self._transport = auth.transport.requests.Request()
        self._creds.refresh(self._transport)
        # google-auth's own headers: the bearer token, and `x-goog-user-project` when a user's
        # login names a quota project (Vertex bills that project then).
        headers: dict[str, str] = {}
        self._creds.apply(headers)
        return Credential(headers, expires_at=_expires_at(self._creds.expiry))

    async def aclose(self) -> None:
        """On shutdown: the HTTP session google-auth refreshes through."""
        session = getattr(self._transport, "session", None)
        if session is not None:
            session.close()

    def __repr__(self) -> str:
        return f"GoogleCredentials(file={self.file!r})"


def _from_file(path: str, scopes: tuple[str, ...]) -> Any:
    """A key file of the two kinds people hand a server: a service account's key, or a user's
    login (`gcloud auth application-default login`). Other kinds (workload identity
    federation) go through ADC, `GOOGLE_APPLICATION_CREDENTIALS`."""
    from google.auth import exceptions
    from google.oauth2 import credentials as user
    from google.oauth2 import service_account

    try:
        with open(path, "rb") as f:
            kind = orjson.loads(f.read()).get("type")
    except (OSError, orjson.JSONDecodeError, AttributeError) as exc:
        raise exceptions.DefaultCredentialsError(f"cannot read {path} ({type(exc).__name__})") from None
    if kind == "service_account":
        return service_account.Credentials.from_service_account_file(path, scopes=list(scopes))
    if kind == "authorized_user":
        return user.Credentials.from_authorized_user_file(path, scopes=list(scopes))
    raise exceptions.DefaultCredentialsError(
        f"{path} is a {kind!r} credentials file; name it in GOOGLE_APPLICATION_CREDENTIALS instead")


def _expires_at(expiry: datetime.datetime | None) -> float | None:
    """google-auth's expiry (naive UTC) on the core's clock: the lifetime left is what counts,
    so a core clock that differs from the wall clock (tests) still refreshes on time."""
    if expiry is None:
        return None
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return credentials.clock() + (expiry - now).total_seconds()


def vertex_credentials(dep: Deployment) -> GoogleCredentials | None:
    """`ProviderSpec.credentials` for Vertex AI: None (the static token) when a key is set."""
    if dep.api_key is not None:
        return None
    _google_auth()  # a clear error now, rather than a 502 naming ImportError
    file = dep.options.get("credentials_file")
    return GoogleCredentials(str(file) if file else None)


@functools.lru_cache(maxsize=16)
def _file_project(path: str) -> str | None:
    # Read once per path: a service-account key names its project.
    try:
        with open(path, "rb") as f:
            project = orjson.loads(f.read()).get("project_id")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    return project if isinstance(project, str) and project else None


def project(dep: Deployment) -> str:
    opts = dep.options
    value = opts.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not value:
        path = opts.get("credentials_file") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        value = _file_project(str(path)) if path else None
    if not value:
        raise GatewayError(500, f"{dep.provider.name}: no Google Cloud project for model '{dep.name}': set "
                           "options.project or GOOGLE_CLOUD_PROJECT.", code="configuration")
    return str(value)


def location(dep: Deployment) -> str:
    return str(dep.options.get("location") or os.environ.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION)


def host(dep: Deployment, default_base_url: str) -> str:
    """The API host: the location's, unless the model's config names another `base_url`
    (a proxy, Private Service Connect, a test's fake); a `/v1` on it is allowed."""
    base = dep.base_url.rstrip("/")
    if base and base != default_base_url.rstrip("/"):
        return base.removesuffix("/" + API_VERSION)
    where = location(dep)
    return GLOBAL_HOST if where == "global" else f"https://{where}-aiplatform.googleapis.com"


def model_url(dep: Deployment, publisher: str, action: str, model: str | None = None,
              default_base_url: str = GLOBAL_HOST) -> str:
    """`{host}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{action}`."""
    name = (model if model is not None else dep.model).removeprefix("models/")
    q = urllib.parse.quote
    return (f"{host(dep, default_base_url)}/{API_VERSION}/projects/{q(project(dep), safe='')}/locations/"
            f"{q(location(dep), safe='')}/publishers/{publisher}/models/{q(name, safe='@')}:{action}")
