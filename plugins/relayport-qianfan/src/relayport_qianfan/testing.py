"""A fake Qianfan v2 server for tests: Baidu's chat wire format on loopback.

What it does the way Qianfan v2 does (cloud.baidu.com qianfan-api, "文本生成" and error codes):
- `POST /v2/chat/completions`, `Authorization: Bearer <API key>`;
- ids `as-...`; choices carry the safety `flag` and no `logprobs`; messages no `refusal`;
- reasoning in `reasoning_content`; usage as a separate final chunk when
  `stream_options.include_usage` asked;
- `web_search: {enable, enable_trace}` answers with a top-level `search_results` list;
- errors: `{"error": {"code", "message", "type"}, "id"}` with the HTTP status, and the rules
  it enforces: alternating roles (first user/system, last user/tool), `enable_thinking` a bool,
  `reasoning_effort` low/medium/high, `web_search` an object with a bool `enable`.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

PATH = "/v2/chat/completions"
REQUEST_ID = "as-fake0qianfan"
_CODES = {400: ("invalid_request_error", "invalid_argument"), 401: ("invalid_request_error", "access_denied"),
          403: ("invalid_request_error", "permission_denied"),
          429: ("rate_limit_error", "rate_limit_exceeded"), 500: ("server_error", "internal_error")}


def qianfan_error(status: int, code: str, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply.json({"error": {"code": code, "message": message, "type": kind}, "id": REQUEST_ID}, status)


class FakeQianfan(FakeOpenAI):
    """Qianfan v2 at `{url}/v2`."""

    def __init__(self, api_key: str | None = "bce-v3/ALTAK-fake/secret") -> None:
        super().__init__(api_key=api_key)

    @property
    def base_url(self) -> str:
        return self.url + "/v2"

    def error_reply(self, status: int, message: str) -> Reply:
        kind, code = _CODES.get(status, ("server_error", "internal_error"))
        return qianfan_error(status, code, message, kind)

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}
        if cached:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, qianfan_error(401, "access_denied", "Access denied: invalid API key"))
        if rec.path != PATH:
            return await self.play(request, qianfan_error(404, "not_found", f"no route {rec.path}"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, qianfan_error(400, "malformed_json", "Invalid Argument"))
        problem = self._check(body)
        if problem is not None:
            return await self.play(request, problem)
        turn = self.turns.popleft() if self.turns else self._echo(body)
        sources = self._sources(body)
        if body.get("stream"):
            reply = self._stream_reply(body, turn)
            assert reply.events is not None
            reply.events = [_qianfan_chunk(e, sources) for e in reply.events]
            return await self.play(request, reply)
        out = self._completion(body, turn)
        out["id"] = REQUEST_ID
        out.pop("system_fingerprint", None)
        for choice in out["choices"]:
            choice.pop("logprobs", None)
            choice["message"].pop("refusal", None)
            choice["flag"] = 0
        if sources:
            out["search_results"] = sources
        return await self.play(request, Reply.json(out))

    def _check(self, body: dict[str, Any]) -> Reply | None:
        roles = [m.get("role") for m in body.get("messages") or () if isinstance(m, dict)]
        talk = [r for r in roles if r != "system"]
        if not talk or (roles[0] not in ("user", "system")) or talk[-1] not in ("user", "tool"):
            return qianfan_error(400, "invalid_messages", "the first message must be user or system, the last user or tool")
        # user (or tool) and assistant alternate; only tool results may follow each other
        for a, b in zip(talk, talk[1:], strict=False):
            if (a == "assistant") == (b == "assistant") and b != "tool":
                return qianfan_error(400, "invalid_messages", "messages must alternate between user and assistant")
        if "enable_thinking" in body and not isinstance(body["enable_thinking"], bool):
            return qianfan_error(400, "invalid_argument", "enable_thinking must be a boolean")
        if body.get("reasoning_effort", "medium") not in ("low", "medium", "high"):
            return qianfan_error(400, "invalid_argument", "reasoning_effort must be low, medium or high")
        search = body.get("web_search")
        if search is not None and not (isinstance(search, dict) and isinstance(search.get("enable", False), bool)):
            return qianfan_error(400, "invalid_argument", "web_search must be an object")
        for key in ("enable_search", "thinking"):
            if key in body:  # not Qianfan's: it would ignore them silently; the fake is strict
                return qianfan_error(400, "invalid_argument", f"unknown parameter {key}")
        return None

    def _sources(self, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        search = body.get("web_search")
        if isinstance(search, dict) and search.get("enable") and search.get("enable_trace"):
            return [{"index": 1, "url": "https://example.com/news", "title": "Qianfan fake source"}]
        return None


def _qianfan_chunk(event: bytes, sources: list[dict[str, Any]] | None) -> bytes:
    """An OpenAI chunk as Qianfan writes it: `as-` id, `flag` and no `logprobs` in choices,
    the search sources on the first chunk."""
    data = event[len(b"data: "):].strip()
    if data == b"[DONE]":
        return event
    obj = orjson.loads(data)
    obj["id"] = REQUEST_ID
    obj.pop("system_fingerprint", None)
    for choice in obj["choices"]:
        choice.pop("logprobs", None)
        choice["flag"] = 0
    if sources and obj["choices"] and obj["choices"][0]["delta"].get("role"):
        obj["search_results"] = sources
    return b"data: " + orjson.dumps(obj) + b"\n\n"
