"""A fake Kimi server for tests: Moonshot's chat wire format on loopback.

What it does the way Kimi does (platform.kimi.ai docs, reports of its streams):
- `POST {base}/chat/completions` under `/v1`, Bearer key;
- answers have no `logprobs` nor `message.refusal`; usage counts cache hits in
  `usage.cached_tokens`; in streams the last chunk carries usage inside `choices[0].usage`,
  whatever `stream_options` said;
- reasoning in `reasoning_content`; thinking models (kimi-k2.5+ unless disabled,
  kimi-k2-thinking*) refuse a history whose assistant tool calls lack `reasoning_content`;
- the built-in `$web_search` tool: the model first answers with a `$web_search` tool call whose
  arguments the client sends back as the tool result, then answers; refused with thinking on
  (seed 003: search turns thinking off);
- `partial: true` on a last assistant message: the answer continues it;
- `tool_choice: "required"` refused (LiteLLM's Moonshot notes; not in Moonshot's docs);
- errors: an HTTP status and `{"error": {"type", "message"}}`.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

_SWITCH = re.compile(r"^kimi-k(?:2\.[5-9]|[3-9])")
SEARCH_ARGUMENTS = '{"search_result":{"search_id":"fake-search-1"},"usage":{"total_tokens":1234}}'


def kimi_error(status: int, kind: str, message: str) -> Reply:
    return Reply.json({"error": {"type": kind, "message": message}}, status)


class FakeMoonshot(FakeOpenAI):
    """Kimi at `{url}/v1`."""

    def __init__(self, api_key: str | None = "sk-fake-moonshot") -> None:
        super().__init__(api_key=api_key, usage_style="top_cached")

    def error_reply(self, status: int, message: str) -> Reply:
        kinds = {400: "invalid_request_error", 401: "invalid_authentication_error",
                 403: "permission_denied_error", 404: "resource_not_found_error",
                 429: "rate_limit_reached_error"}
        return kimi_error(status, kinds.get(status, "server_error"), message)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, kimi_error(401, "invalid_authentication_error", "Invalid Authentication"))
        if rec.path != "/v1/chat/completions":
            return await self.play(request, kimi_error(404, "resource_not_found_error", f"Not found {rec.path}"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, kimi_error(400, "invalid_request_error", "Invalid request: bad json"))
        problem = self._check(body)
        if problem is not None:
            return await self.play(request, problem)
        turn = self._search_call(body) or (self.turns.popleft() if self.turns else self._echo(body))
        if body.get("stream"):
            return await self.play(request, self._kimi_stream(body, turn))
        return await self.play(request, Reply.json(self._kimi_completion(body, turn)))

    @staticmethod
    def thinks(body: dict[str, Any]) -> bool:
        model = str(body.get("model"))
        if model.startswith("kimi-k2-thinking"):
            return True
        return bool(_SWITCH.match(model)) and body.get("thinking") != {"type": "disabled"}

    def _check(self, body: dict[str, Any]) -> Reply | None:
        thinking = body.get("thinking")
        if thinking is not None and thinking not in ({"type": "enabled"}, {"type": "disabled"}):
            return kimi_error(400, "invalid_request_error", "Invalid request: thinking.type must be enabled or disabled")
        if body.get("tool_choice") == "required":
            return kimi_error(400, "invalid_request_error", "Invalid request: tool_choice 'required' is not supported")
        if self.thinks(body):
            for i, m in enumerate(body.get("messages") or ()):
                if m.get("role") == "assistant" and m.get("tool_calls") and not m.get("reasoning_content"):
                    return kimi_error(400, "invalid_request_error", "thinking is enabled but reasoning_content "
                                      f"is missing in assistant tool call message at index {i}")
            if any(t.get("type") == "builtin_function" for t in body.get("tools") or ()):
                return kimi_error(400, "invalid_request_error", "Invalid request: $web_search is not "
                                  "supported in thinking mode")
        return None

    def _search_call(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """First turn of a `$web_search` exchange: the tool call the client must echo back."""
        if not any(t.get("type") == "builtin_function" for t in body.get("tools") or ()):
            return None
        last = (body.get("messages") or [{}])[-1]
        if last.get("role") == "tool" and last.get("name") == "$web_search":
            return None
        call = {"id": "$web_search:fake0", "type": "builtin_function",
                "function": {"name": "$web_search", "arguments": SEARCH_ARGUMENTS}}
        return dict(text="", reasoning=None, tool_calls=[call], finish_reason=None, usage=None,
                    delay=0.0, drop_after=None)

    def _kimi_completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn["text"]}
        if turn["reasoning"]:
            message["reasoning_content"] = turn["reasoning"]
        if turn["tool_calls"]:
            message["tool_calls"] = [{**c, "index": i} for i, c in enumerate(turn["tool_calls"])]
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        return {"id": "chatcmpl-fakekimi", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": turn["usage"] or self.usage(12, 7)}

    def _kimi_stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        base = {"id": "chatcmpl-fakekimi", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model")}

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
            return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        for word in _pieces(turn["reasoning"] or ""):
            events.append(chunk({"reasoning_content": word}))
        for word in _pieces(turn["text"] or ""):
            events.append(chunk({"content": word}))
        for i, call in enumerate(turn["tool_calls"] or ()):
            args = call["function"]["arguments"]
            events.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": call["type"],
                                                 "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args}}]}))
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        events.append(chunk({}, finish, usage=turn["usage"] or self.usage(12, 7)))
        events.append(b"data: [DONE]\n\n")
        return Reply.sse(events, delay=turn["delay"], drop_after=turn["drop_after"],
                         error_after=turn.get("error_after"))


def _pieces(text: str) -> list[str]:
    """Words with their leading space: deltas that join back to the text exactly."""
    words = text.split(" ")
    return [w for w in [words[0], *(" " + w for w in words[1:])] if w] if text else []
