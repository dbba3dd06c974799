"""A fake Spark HTTP API for tests: iFlytek's chat wire format on loopback.

What it does the way Spark does (xfyun.cn Spark HTTP and X1 http docs; recorded chunks quoted
in public clients):
- `POST /v1/chat/completions` for `lite`, `generalv3`, `pro-128k`, `generalv3.5`, `max-32k`,
  `4.0Ultra`; `POST /v2/chat/completions` for `x1`; `Authorization: Bearer <APIPassword or
  APIKey:APISecret>`;
- every answer and chunk starts with `code` (0), `message` ("Success") and `sid`;
- v1 streams write `data:` without a space, never send a `finish_reason`, put usage on the last
  content chunk and end with `data:[DONE]`; v1 answers have no `finish_reason` either
  (UNCONFIRMED: the strict reading), and a tool call is one object, not a list, with no `index`;
- x1 reasons in `reasoning_content`, sends `finish_reason` and then a usage chunk;
- failures are a non-zero `code` (`queue_error`), sent with HTTP 200 by default (UNCONFIRMED:
  the harder case), also in the middle of a stream; the limits it enforces answer the same way:
  `temperature` (0, 1] (x1: (0, 2]), `max_tokens` 1..8192 (x1: 32768), `top_k` 1..6, known
  models on their own path, `web_search` tools with an object.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

V1_MODELS = frozenset({"lite", "generalv3", "pro-128k", "generalv3.5", "max-32k", "4.0Ultra"})
SID = "cha000b0bf1@dx193f1ffe6f2b8f3532"
_STATUS_CODES = {400: 10163, 401: 11200, 403: 11200, 429: 11202, 500: 10012}


def spark_error(code: int, message: str, status: int = 200) -> Reply:
    return Reply.json({"code": code, "message": message, "sid": SID}, status)


class FakeSpark(FakeOpenAI):
    """Spark at `{url}` (the host: `/v1/...` and `/v2/...` under it)."""

    base_path = ""

    def __init__(self, api_key: str | None = "fakeapikey:fakeapisecret") -> None:
        super().__init__(api_key=api_key, usage_style="counts")

    def error_reply(self, status: int, message: str) -> Reply:
        return spark_error(_STATUS_CODES.get(status, 10012), message, status)

    def queue_error(self, code: int, message: str, *, after: int | None = None) -> None:
        """The next call fails with `code`: at once (HTTP 200), or inside a stream after
        `after` words of text."""
        self.queue_text("partial answer text here" if after else "")
        self.turns[-1]["error"] = (code, message, after)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, Reply.json({"message": "HMAC signature cannot be verified"}, 401))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, spark_error(10003, "message format error"))
        problem = self._check(rec.path, body)
        if problem is not None:
            return await self.play(request, problem)
        turn = self.turns.popleft() if self.turns else self._echo(body)
        error = turn.get("error")
        if error is not None and not (body.get("stream") and error[2]):
            return await self.play(request, spark_error(error[0], error[1]))
        if body.get("stream"):
            return await self.play(request, self._spark_stream(body, turn))
        return await self.play(request, Reply.json(self._spark_completion(body, turn)))

    def _check(self, path: str, body: dict[str, Any]) -> Reply | None:
        model = body.get("model")
        x1 = model == "x1"
        if not (x1 and path == "/v2/chat/completions" or model in V1_MODELS and path == "/v1/chat/completions"):
            return spark_error(10404, f"model {model} is not served at {path}")
        temperature = body.get("temperature")
        if temperature is not None and not 0 < temperature <= (2 if x1 else 1):
            return spark_error(10163, "parameter temperature out of range")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and not 1 <= max_tokens <= (32768 if x1 else 8192):
            return spark_error(10163, "parameter max_tokens out of range")
        if body.get("top_k") is not None and not 1 <= body["top_k"] <= 6:
            return spark_error(10163, "parameter top_k out of range")
        for tool in body.get("tools") or ():
            if tool.get("type") == "web_search" and not isinstance(tool.get("web_search"), dict):
                return spark_error(10163, "web_search must be an object")
        for key in ("enable_search", "enable_thinking", "thinking", "reasoning_effort", "max_completion_tokens"):
            if key in body:
                return spark_error(10163, f"unknown parameter {key}")
        return None

    def _spark_completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        x1 = body.get("model") == "x1"
        message: dict[str, Any] = {"role": "assistant", "content": turn["text"]}
        if turn["reasoning"] and x1:
            message["reasoning_content"] = turn["reasoning"]
        if turn["tool_calls"]:
            call = turn["tool_calls"][0]
            message["tool_calls"] = call if not x1 else turn["tool_calls"]  # v1: one object
        choice: dict[str, Any] = {"message": message, "index": 0}
        if x1:
            choice["finish_reason"] = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        return {"code": 0, "message": "Success", "sid": SID, "id": SID, "created": int(time.time()),
                "choices": [choice], "usage": turn["usage"] or self.usage(12, 7)}

    def _spark_stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        x1 = body.get("model") == "x1"
        head = {"code": 0, "message": "Success", "sid": SID, "id": SID, "created": int(time.time())}
        sep = b"data: " if x1 else b"data:"

        def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
            choice: dict[str, Any] = {"delta": {"role": "assistant", **delta}, "index": 0}
            if "finish_reason" in extra:
                choice["finish_reason"] = extra.pop("finish_reason")
            return sep + orjson.dumps({**head, "choices": [choice], **extra}) + b"\n\n"

        usage = turn["usage"] or self.usage(12, 7)
        events = []
        for word in _pieces(turn["reasoning"] or "") if x1 else ():
            events.append(chunk({"reasoning_content": word, "content": ""}))
        words = _pieces(turn["text"] or "")
        error = turn.get("error")
        if error is None and turn.get("error_after") is not None:  # the conformance suite's in-band error
            error = (10012, "internal server error", turn["error_after"])
        if error is not None:
            events += [chunk({"content": w}) for w in words[:error[2]]]
            events.append(sep + orjson.dumps({"code": error[0], "message": error[1], "sid": SID}) + b"\n\n")
            return Reply.sse(events)
        events += [chunk({"content": w}) for w in words]
        for call in turn["tool_calls"] or ():
            events.append(chunk({"content": "", "tool_calls": call}))  # one object, no index
        if x1:
            finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
            events.append(chunk({"content": ""}, finish_reason=finish))
            events.append(chunk({"content": ""}, usage=usage))
        elif events:
            last = orjson.loads(events[-1][len(sep):])
            events[-1] = sep + orjson.dumps({**last, "usage": usage}) + b"\n\n"
        else:
            events.append(chunk({"content": ""}, usage=usage))
        events.append(sep + b"[DONE]\n\n")
        return Reply.sse(events, delay=turn["delay"], drop_after=turn["drop_after"])


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w for w in [words[0], *(" " + w for w in words[1:])] if w] if text else []
