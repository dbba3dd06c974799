"""A fake Serper for tests: Serper's paths, `X-API-KEY` auth, answers and error bodies.

Shapes follow Serper's documented answers: `searchParameters` echoing the query with its
`type`, `organic` results (`title`, `link`, `snippet`, `position`), `news`, `images`,
`places`, and `credits`; errors are `{"message", "statusCode"}` with the same HTTP status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest

_KINDS = {"/search": "search", "/news": "news", "/images": "images", "/places": "places"}


class FakeSerper(FakeUpstream):
    def __init__(self, api_key: str = "serper-test-key") -> None:
        super().__init__(default=self._answer)
        self.api_key = api_key

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.headers.get("x-api-key") != self.api_key and rec.query.get("apiKey") != self.api_key:
            return _error(403, "Unauthorized.")
        kind = _KINDS.get(rec.path)
        if kind is None:
            return _error(404, "Not found")
        if rec.method == "GET":
            params: Any = dict(parse_qsl(request.query_string))
        else:
            params = orjson.loads(rec.body or b"{}")
        if isinstance(params, list):
            return web.json_response([self._one(kind, p) for p in params])
        if not params.get("q"):
            return _error(400, "Missing query parameter")
        return web.json_response(self._one(kind, params))

    def _one(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        q = str(params.get("q"))
        num = int(params.get("num") or 10)
        echo = {"q": q, "type": kind, "engine": "google",
                **{k: params[k] for k in ("gl", "hl", "num", "page") if k in params}}
        out: dict[str, Any] = {"searchParameters": echo, "credits": 1}
        slug = q.lower().replace(" ", "-")
        if kind == "search":
            out["organic"] = [
                {"title": f"{q} result {i}", "link": f"https://example.com/{slug}/{i}",
                 "snippet": f"What page {i} says about {q}.", "position": i}
                for i in range(1, num + 1)
            ]
        elif kind == "news":
            out["news"] = [{"title": f"News on {q}", "link": f"https://news.example.com/{slug}",
                            "snippet": f"Today about {q}.", "date": "1 hour ago", "source": "Example News",
                            "position": 1}]
        elif kind == "images":
            out["images"] = [{"title": f"{q} picture", "imageUrl": f"https://img.example.com/{slug}.jpg",
                              "link": f"https://example.com/{slug}", "position": 1}]
        else:
            out["places"] = [{"position": 1, "title": f"{q} place", "address": "1 Main St",
                              "latitude": 37.3, "longitude": -122.0, "rating": 4.5}]
        return out


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message, "statusCode": status}, status=status)
