"""A fake of the example "Echo" vendor (examples/relayport-echo): its own JSON and JSON-lines wire."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest

ECHO_KEY = "echo-vendor-key"


class FakeEcho(FakeUpstream):
    def __init__(self) -> None:
        super().__init__(self._answer)
        self.line_delay = 0.0

    @property
    def base_url(self) -> str:
        return self.url

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.headers.get("x-echo-key") != ECHO_KEY:
            return web.json_response({"problem": "bad key", "retry": False}, status=401)
        body = rec.json()
        last = body["input"][-1]["text"]
        words = f"you said {last}".split(" ")
        if not body.get("stream"):
            return web.json_response({"id": "e1", "output": " ".join(words), "done": "complete",
                                      "tokens": {"in": len(body["input"]), "out": len(words)}})
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        for i, w in enumerate(words):
            await resp.write(orjson.dumps({"delta": w if i == 0 else " " + w}) + b"\n")
            if self.line_delay:
                await asyncio.sleep(self.line_delay)
        await resp.write(orjson.dumps({"done": "complete", "tokens": {"in": 3, "out": len(words)}}) + b"\n")
        await resp.write_eof()
        return resp
