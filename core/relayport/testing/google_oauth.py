"""A fake Google OAuth 2.0 token endpoint and service-account keys for it (needs `relayport[gcp]`
and `cryptography`, which recent google-auth releases require anyway).

    oauth = FakeGoogleOAuth().start()
    path = oauth.service_account_file(tmp_path, project="my-project")  # token_uri -> the fake
    # a model with options.credentials_file = path: google-auth signs a JWT with the key,
    # the fake checks it with the key's public half and issues an access token
    assert oauth.accepts(request.headers["authorization"])            # in a fake vendor

It plays Google's JWT-bearer grant (RFC 7523), as service-account credentials use it: a form
POST with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and `assertion`, an RS256
JWT whose issuer is the account's `client_email`, audience Google's token endpoint, and `scope` the
scopes asked. Tokens expire after `lifetime` seconds on `clock` (the core's credential clock
by default, so a test that moves it moves both). A refused grant answers like Google's
endpoint: 400 `{"error": "invalid_grant", "error_description": ...}`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from relayport import credentials
from relayport.testing.fakes import FakeUpstream, RecordedRequest

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# The audience google-auth puts in a service account's assertion whatever its `token_uri`:
# Google's token endpoint's own name.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
# The message Google's APIs answer a missing, invalid or expired access token with.
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                   "cookie or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")


@functools.lru_cache(maxsize=1)
def _test_key() -> tuple[str, str]:
    """(private PEM, public PEM) of one RSA key per test process (making one takes a moment)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def unauthenticated_body() -> dict[str, Any]:
    """Google's 401 envelope, as Vertex AI answers a request without a valid token."""
    return {"error": {"code": 401, "message": UNAUTHENTICATED, "status": "UNAUTHENTICATED"}}


class FakeGoogleOAuth(FakeUpstream):
    """`url + "/token"` is the token endpoint; `issued` counts the tokens it gave out."""

    def __init__(self, lifetime: float = 3600.0, clock: Callable[[], float] | None = None,
                 client_email: str = "relayport-test@test-project.iam.gserviceaccount.com") -> None:
        super().__init__(self._token)
        self.lifetime = lifetime
        self.clock = clock or (lambda: credentials.clock())
        self.client_email = client_email
        self.valid: dict[str, float] = {}  # token -> expiry on `clock`
        self.issued = 0
        self.delay = 0.05  # a real endpoint takes a while: concurrent callers would pile up meanwhile
        self.refused: list[str] = []  # why grants were refused
        self._ids = itertools.count(1)

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def service_account_file(self, folder: Path, project: str = "test-project") -> str:
        """A service-account key file (the JSON the Cloud console gives) for this endpoint."""
        private, _ = _test_key()
        info = {"type": "service_account", "project_id": project, "private_key_id": "test-key-1",
                "private_key": private, "client_email": self.client_email, "client_id": "1234567890",
                "token_uri": self.token_uri, "auth_uri": "https://accounts.google.com/o/oauth2/auth"}
        path = folder / "service-account.json"
        path.write_bytes(orjson.dumps(info))
        return str(path)

    def accepts(self, authorization: str | None) -> bool:
        """True for `Bearer <token>` with a token this endpoint issued that has not expired."""
        token = (authorization or "").removeprefix("Bearer ")
        expiry = self.valid.get(token)
        return expiry is not None and self.clock() < expiry

    def revoke_all(self) -> None:
        self.valid.clear()

    async def _token(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        await asyncio.sleep(self.delay)
        if rec.path != "/token" or request.method != "POST":
            return web.json_response({"error": "not_found"}, status=404)
        form = _form(rec.body)
        problem = self._check(form)
        if problem is not None:
            self.refused.append(problem)
            return web.json_response({"error": "invalid_grant", "error_description": problem}, status=400)
        self.issued += 1
        token = f"ya29.fake-{next(self._ids)}-secretvalue"
        self.valid[token] = self.clock() + self.lifetime
        return web.json_response({"access_token": token, "expires_in": int(self.lifetime), "token_type": "Bearer"})

    def _check(self, form: dict[str, str]) -> str | None:
        from google.auth import exceptions, jwt

        if form.get("grant_type") != JWT_BEARER:
            return f"Invalid grant_type: {form.get('grant_type')}"
        try:
            # The signature is checked with the key's public half; `aud`, `iat` and `exp` too.
            claims = jwt.decode(form.get("assertion", ""), certs=_test_key()[1],
                                audience=[GOOGLE_TOKEN_AUDIENCE, self.token_uri])
        except (ValueError, exceptions.GoogleAuthError) as exc:
            return f"Invalid JWT Signature. ({type(exc).__name__})"
        if claims.get("iss") != self.client_email:
            return "Invalid issuer"
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return "Invalid scope"
        return None


def _form(body: bytes) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(body.decode()))


class VertexTokens:
    """What the Vertex AI fakes (Gemini's, Claude's) share: the bearer tokens they take (a live one
    `oauth` issued, else the plain access token `api_key`) and a count of those refused.
    Mixed into a vendor fake: `class FakeVertexX(VertexTokens, FakeX)`."""

    STATIC_TOKEN = "ya29.fake-static-token"

    def __init__(self, oauth: FakeGoogleOAuth | None, project: str, location: str) -> None:
        super().__init__(api_key=self.STATIC_TOKEN)  # type: ignore[call-arg]  # the vendor fake's own key check
        self.oauth = oauth
        self.project = project
        self.location = location
        self.rejected = 0  # calls refused for their token

    def authorized(self, authorization: str | None) -> bool:
        if self.oauth is None:
            return authorization == f"Bearer {self.api_key}"  # type: ignore[attr-defined]
        return self.oauth.accepts(authorization)

    def refused(self, authorization: str | None) -> bool:
        """Whether a call with this Authorization header is refused (and counted)."""
        if self.authorized(authorization):
            return False
        self.rejected += 1
        return True
