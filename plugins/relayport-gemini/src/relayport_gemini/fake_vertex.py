"""A fake Vertex AI Gemini endpoint, for tests: FakeGemini's rules behind Vertex's URLs and OAuth.

    oauth = FakeGoogleOAuth().start()                  # relayport.testing.google_oauth
    fake = FakeVertexGemini(oauth, project="test-project", location="us-central1").start()

It answers `POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:
generateContent | streamGenerateContent | countTokens` with the Gemini format, takes only bearer
tokens `oauth` issued that have not expired (without `oauth`: the plain token `api_key`), else
Google's 401 `UNAUTHENTICATED`; it refuses an API key header (Vertex takes OAuth tokens), a
project or location other than its own (404), and on countTokens a `generateContentRequest`
(a Gemini API-only field).
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from aiohttp import web

from relayport.testing.fakes import RecordedRequest, Reply
from relayport.testing.google_oauth import FakeGoogleOAuth, VertexTokens, unauthenticated_body
from relayport_gemini.testing import FakeGemini, google_error

_VERTEX_PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^:/]+):"
                          r"(generateContent|streamGenerateContent|countTokens)$")


class FakeVertexGemini(VertexTokens, FakeGemini):
    def __init__(self, oauth: FakeGoogleOAuth | None = None, project: str = "test-project",
                 location: str = "us-central1") -> None:
        super().__init__(oauth, project, location)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.refused(rec.headers.get("authorization")):
            return await self.play(request, Reply.json(unauthenticated_body(), 401,
                                                       headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}))
        if "x-goog-api-key" in rec.headers or "key" in rec.query:
            return await self.play(request, google_error(400, "API keys are not supported by this API. Expected "
                                                         "OAuth2 access token or other authentication credentials "
                                                         "that assert a principal."))
        match = _VERTEX_PATH.match(rec.path)
        if match is None or request.method != "POST":
            return await self.play(request, google_error(404, f"Method not found: {rec.path}"))
        project, location, model, action = match.groups()
        if (project, location) != (self.project, self.location):
            return await self.play(request, google_error(
                404, f"Publisher Model `projects/{project}/locations/{location}/publishers/google/models/{model}` "
                "not found."))
        if action == "countTokens" and b'"generateContentRequest"' in rec.body:
            return await self.play(request, google_error(
                400, 'Invalid JSON payload received. Unknown name "generateContentRequest": Cannot find field.'))
        # The Gemini API's rules and answers, as FakeGemini plays them.
        inner = attrs.evolve(rec, path=f"/v1/models/{model}:{action}",
                             headers={**rec.headers, "x-goog-api-key": str(self.api_key)})
        return await super()._answer(request, inner)

    def _response(self, body: dict[str, Any], model: str, turn: dict[str, Any]) -> dict[str, Any]:
        out = super()._response(body, model, turn)
        out["createTime"] = "2026-01-01T00:00:00.000000Z"  # Vertex adds it; clients must ignore it
        return out
