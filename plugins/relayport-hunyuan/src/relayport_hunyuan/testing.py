"""A fake Hunyuan server for tests: Tencent's OpenAI-compatible chat wire format on loopback.

Played the way Hunyuan does it (cloud.tencent.com/document/product/1729/111007 and recorded
errors; items only seen in the native API are marked there):
- `POST /v1/chat/completions`, `Authorization: Bearer <key>`;
- errors `{"error": {"id", "message", "type", "param", "code": "<number>"}}` with the HTTP
  status; alternating roles enforced with code "1001" and Hunyuan's own message;
- reasoning in `reasoning_content`; usage on every stream chunk, cumulative (native API;
  UNCONFIRMED for the compatible endpoint), finish `sensitive` for safety stops (native);
- `enable_enhancement` + `search_info` answer with a top-level `search_info.search_results`;
- a top-level `note` (the AI-content mark); choices without `logprobs`, messages without
  `refusal` (UNCONFIRMED: the strict reading);
- refused, as the clients that call Hunyuan avoid them (UNCONFIRMED): `frequency_penalty`,
  `presence_penalty`, and `enable_thinking` on a model without a thinking switch.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

PATH = "/v1/chat/completions"
NOTE = "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记"
ALTERNATE = ("messages 中 user（tool） 和 assistant 角色需交替出现 (一问一答)，以 user 提问开始， "
             "user（tool）提问结束, tool 可以连续出现多次")
_KINDS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          429: "rate_limit_error", 500: "api_error"}
_CODES = {400: "1001", 401: "1002", 403: "1003", 429: "2003", 500: "3000"}


def hunyuan_error(status: int, code: str, message: str) -> Reply:
    return Reply.json({"error": {"id": "3d98282009c094e0c9b7b11afc919ada", "message": message,
                                 "type": _KINDS.get(status, "api_error"), "param": None, "code": code}}, status)


class FakeHunyuan(FakeOpenAI):
    """Hunyuan at `{url}/v1`."""

    def __init__(self, api_key: str | None = "sk-hunyuan-fake") -> None:
        super().__init__(api_key=api_key, usage_placement="every_chunk")

    def error_reply(self, status: int, message: str) -> Reply:
        return hunyuan_error(status, _CODES.get(status, "3000"), message)

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, hunyuan_error(401, "1002", "鉴权失败，请检查 API Key"))
        if rec.path != PATH:
            return await self.play(request, hunyuan_error(404, "1004", f"no route {rec.path}"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, hunyuan_error(400, "1001", "请求体不是合法的 JSON"))
        problem = self._check(body)
        if problem is not None:
            return await self.play(request, problem)
        turn = self.turns.popleft() if self.turns else self._echo(body)
        extra: dict[str, Any] = {"note": NOTE}
        if body.get("enable_enhancement") and body.get("search_info"):
            extra["search_info"] = {"search_results": [
                {"index": 1, "title": "Hunyuan fake source", "url": "https://example.com/news"}]}
        if body.get("stream"):
            reply = self._stream_reply(body, turn)
            assert reply.events is not None
            reply.events = [_hunyuan_chunk(e, extra) for e in reply.events]
            return await self.play(request, reply)
        out = {**self._completion(body, turn), **extra}
        out.pop("system_fingerprint", None)
        for choice in out["choices"]:
            choice.pop("logprobs", None)
            choice["message"].pop("refusal", None)
        return await self.play(request, Reply.json(out))

    def _check(self, body: dict[str, Any]) -> Reply | None:
        roles = [m.get("role") for m in body.get("messages") or () if isinstance(m, dict)]
        talk = [r for r in roles if r != "system"]
        if not talk or talk[0] != "user" or talk[-1] not in ("user", "tool"):
            return hunyuan_error(400, "1001", ALTERNATE)
        for a, b in zip(talk, talk[1:], strict=False):
            if (a == "assistant") == (b == "assistant") and b != "tool":
                return hunyuan_error(400, "1001", ALTERNATE)
        for key in ("frequency_penalty", "presence_penalty", "enable_search", "thinking", "reasoning_effort"):
            if key in body:
                return hunyuan_error(400, "1001", f"不支持的参数 {key}")
        if "enable_thinking" in body and not fnmatch.fnmatchcase(str(body.get("model")), "hunyuan-a13b*"):
            return hunyuan_error(400, "1001", "该模型不支持 enable_thinking")
        for key in ("enable_enhancement", "enable_thinking", "citation", "search_info"):
            if key in body and not isinstance(body[key], bool):
                return hunyuan_error(400, "1001", f"{key} 参数类型错误")
        return None


def _hunyuan_chunk(event: bytes, extra: dict[str, Any]) -> bytes:
    data = event[len(b"data: "):].strip()
    if data == b"[DONE]":
        return event
    obj = {**orjson.loads(data), **extra}
    obj.pop("system_fingerprint", None)
    for choice in obj["choices"]:
        choice.pop("logprobs", None)
    return b"data: " + orjson.dumps(obj) + b"\n\n"
