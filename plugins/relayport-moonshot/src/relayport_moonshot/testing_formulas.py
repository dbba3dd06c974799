"""A fake of Moonshot's Formula API (Kimi's official tools) beside the fake chat API.

From Moonshot's "use official tools" guide: `GET /v1/formulas/{uri}/tools` answers the
formula's declarations under `tools`; `POST /v1/formulas/{uri}/fibers` with `{"name",
"arguments"}` (arguments a JSON string) runs one and answers a fiber whose `status` is
"succeeded" with `context.output`, or `context.encrypted_output` for tools whose results only
Kimi may read (web search). Errors use Kimi's `{"error": {"type", "message"}}`. The other
fiber fields (`id`, `object`, `formula`) are UNCONFIRMED guesses; clients read none of them.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import RecordedRequest
from relayport_moonshot.testing import FakeMoonshot, kimi_error

_PATH = re.compile(r"^/v1/formulas/(.+)/(tools|fibers)$")
ENCRYPTED = "----MOONSHOT ENCRYPTED BEGIN----ZmFrZSBzZWFyY2ggcmVzdWx0cw==----MOONSHOT ENCRYPTED END----"


def _function(name: str, description: str, **properties: str) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {k: {"type": "string", "description": v}
                                                        for k, v in properties.items()},
                       "required": list(properties)}}}


FORMULAS: dict[str, list[dict[str, Any]]] = {
    "moonshot/web-search:latest": [_function("web_search", "Search the web for current information.",
                                             query="what to search for")],
    "moonshot/date:latest": [_function("date", "Date and time, and arithmetic on them.",
                                       operation="what to do, e.g. now")],
    "moonshot/code-runner:latest": [_function("code_runner", "Run Python code in a sandbox.",
                                              code="the Python code")],
}


class FakeKimiFormulas(FakeMoonshot):
    """Kimi's chat API plus the Formula endpoints, on one host like the real one."""

    def __init__(self, api_key: str | None = "sk-fake-moonshot") -> None:
        super().__init__(api_key=api_key)
        self.fibers = 0

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        match = _PATH.match(rec.path)
        if match is None:
            return await super()._answer(request, rec)
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, kimi_error(401, "invalid_authentication_error", "Invalid Authentication"))
        uri, action = match.group(1), match.group(2)
        tools = FORMULAS.get(uri)
        if tools is None:
            return await self.play(request, kimi_error(404, "resource_not_found_error", f"formula {uri} not found"))
        if action == "tools":
            if request.method != "GET":
                return await self.play(request, kimi_error(405, "invalid_request_error", "method not allowed"))
            return web.json_response({"object": "list", "tools": tools})
        try:
            body = orjson.loads(rec.body)
            name, arguments = body["name"], orjson.loads(body["arguments"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return await self.play(request, kimi_error(
                400, "invalid_request_error", "Invalid request: 'name' and 'arguments' (a JSON string) are required"))
        if name not in {t["function"]["name"] for t in tools}:
            return await self.play(request, kimi_error(400, "invalid_request_error", f"tool {name} not in {uri}"))
        self.fibers += 1
        context: dict[str, Any] = {"input": body["arguments"]}
        if name == "web_search":
            context["encrypted_output"] = ENCRYPTED
        elif name == "date":
            context["output"] = "2026-11-29 21:00:00 UTC"
        else:
            context["output"] = f"ran: {arguments.get('code')}"
        return web.json_response({"id": f"fiber-{self.fibers:04d}", "object": "fiber", "formula": uri,
                                  "status": "succeeded", "context": context})
