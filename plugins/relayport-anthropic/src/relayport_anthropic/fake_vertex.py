"""A fake Vertex AI endpoint for Claude, for tests: FakeAnthropic's rules behind Vertex's URLs,
body rules and OAuth.

    oauth = FakeGoogleOAuth().start()                  # relayport.testing.google_oauth
    fake = FakeVertexClaude(oauth, project="test-project", location="us-east5").start()

It answers `POST /v1/projects/{project}/locations/{location}/publishers/anthropic/models/
{model}:rawPredict | :streamRawPredict` and `.../models/count-tokens:rawPredict`. It takes only
bearer tokens `oauth` issued that have not expired (without `oauth`: the plain token `api_key`),
else Google's 401 `UNAUTHENTICATED` envelope; it wants `anthropic_version: "vertex-2023-10-16"`
in the body and no `model` there (Anthropic's 400 envelope otherwise), `stream: true` exactly on
streamRawPredict, and then answers as the Messages API does (the model named in the URL).
"""

from __future__ import annotations

import re

import attrs
import orjson
from aiohttp import web

from relayport.testing.fakes import RecordedRequest, Reply
from relayport.testing.google_oauth import FakeGoogleOAuth, VertexTokens, unauthenticated_body
from relayport_anthropic.testing import FakeAnthropic, anthropic_error

_PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/anthropic/models/([^:/]+):"
                   r"(rawPredict|streamRawPredict)$")
VERSION = "vertex-2023-10-16"


def _google_error(status: int, message: str, word: str) -> Reply:
    return Reply.json({"error": {"code": status, "message": message, "status": word}}, status)


class FakeVertexClaude(VertexTokens, FakeAnthropic):
    def __init__(self, oauth: FakeGoogleOAuth | None = None, project: str = "test-project",
                 location: str = "us-east5") -> None:
        super().__init__(oauth, project, location)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.refused(rec.headers.get("authorization")):
            return await self.play(request, Reply.json(unauthenticated_body(), 401))
        match = _PATH.match(rec.path)
        if match is None or request.method != "POST":
            return await self.play(request, _google_error(404, f"Method not found: {rec.path}", "NOT_FOUND"))
        project, location, model, action = match.groups()
        if (project, location) != (self.project, self.location):
            return await self.play(request, _google_error(
                404, f"Publisher Model `projects/{project}/locations/{location}/publishers/anthropic/models/{model}` "
                "was not found or your project does not have access to it.", "NOT_FOUND"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, anthropic_error(400, "There was an issue with your request body"))
        if not isinstance(body, dict):
            return await self.play(request, anthropic_error(400, "body: Input should be an object"))
        if body.pop("anthropic_version", None) != VERSION:
            return await self.play(request, anthropic_error(400, f"anthropic_version: Input should be '{VERSION}'"))
        counting = model == "count-tokens"
        if not counting:
            if "model" in body:
                return await self.play(request, anthropic_error(400, "model: Extra inputs are not permitted"))
            if bool(body.get("stream")) != (action == "streamRawPredict"):
                return await self.play(request, anthropic_error(
                    400, "stream: streamRawPredict streams and rawPredict does not"))
            body["model"] = model
        # Anthropic's rules and answers, as FakeAnthropic plays them.
        inner = attrs.evolve(rec, path="/v1/messages/count_tokens" if counting else "/v1/messages",
                             body=orjson.dumps(body),
                             headers={**rec.headers, "x-api-key": str(self.api_key), "anthropic-version": "2023-06-01"})
        return await super()._answer(request, inner)
