"""A fake GLM server for tests: Zhipu's chat wire format on loopback.

What it does the way GLM does (docs.z.ai, docs.bigmodel.cn, and recorded api.z.ai streams):
- `POST {base}/chat/completions` under `/api/paas/v4`, Bearer key;
- answers carry `request_id` and neither `logprobs` nor `message.refusal`; stream chunks carry
  no `object`, repeat `role` in every delta and have no `finish_reason` key until the last one,
  which carries `usage` too (whatever `stream_options` said);
- reasoning in `reasoning_content`; cached tokens in `prompt_tokens_details.cached_tokens`;
- `finish_reason: "sensitive"` when the safety audit stops the output;
- `tool_stream: true` streams tool-call arguments in pieces, otherwise a call arrives whole;
- the `web_search` tool answers with a top-level `web_search` list of sources;
- errors: an HTTP status and `{"error": {"code": "<business code>", "message"}}`, and the
  rules it enforces (thinking type values, media parts on text-only models, web_search shape,
  `tool_choice` only "auto").
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

PATH = "/api/paas/v4/chat/completions"
_VISION = re.compile(r"^glm-\d+(?:\.\d+)?v(?:$|-)")
_PART_TYPES = {"text", "image_url", "video_url", "file_url"}


def glm_error(status: int, code: str, message: str) -> Reply:
    return Reply.json({"error": {"code": code, "message": message}}, status)


class FakeZhipu(FakeOpenAI):
    """GLM at `{url}/api/paas/v4`. `queue_text(..., finish_reason="sensitive")` plays a safety stop."""

    base_path = "/api/paas/v4"

    def __init__(self, api_key: str | None = "zhipu-fake-key.secret") -> None:
        super().__init__(api_key=api_key, usage_style="reasoning_if_any")
        self.vision_models: set[str] = set()  # vision models whose ids do not say so

    def error_reply(self, status: int, message: str) -> Reply:
        codes = {400: "1210", 401: "1000", 403: "1220", 404: "1211", 429: "1302", 500: "500"}
        return glm_error(status, codes.get(status, "500"), message)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, glm_error(401, "1000", "身份验证失败。"))
        if rec.path != PATH:
            return await self.play(request, glm_error(404, "1222", f"API {rec.path} 不存在"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, glm_error(400, "1210", "API 调用参数有误，请检查文档。"))
        problem = self._check(body)
        if problem is not None:
            return await self.play(request, problem)
        turn = self.turns.popleft() if self.turns else self._echo(body)
        if body.get("stream"):
            return await self.play(request, self._glm_stream(body, turn))
        return await self.play(request, Reply.json(self._glm_completion(body, turn)))

    def _check(self, body: dict[str, Any]) -> Reply | None:
        thinking = body.get("thinking")
        if thinking is not None and (not isinstance(thinking, dict)
                                     or thinking.get("type") not in ("enabled", "disabled")):
            return glm_error(400, "1214", "thinking.type 参数非法。")
        vision = bool(_VISION.match(str(body.get("model")))) or body.get("model") in self.vision_models
        for m in body.get("messages") or ():
            content = m.get("content")
            for part in content if isinstance(content, list) else ():
                kind = part.get("type")
                if kind not in _PART_TYPES or (kind != "text" and not vision):
                    return glm_error(400, "1210", f"不支持的内容类型 {kind}")
        if body.get("tool_choice", "auto") != "auto":
            return glm_error(400, "1214", "tool_choice 参数非法，当前仅支持 auto。")
        for tool in body.get("tools") or ():
            if tool.get("type") == "web_search" and not isinstance(tool.get("web_search"), dict):
                return glm_error(400, "1214", "web_search 参数非法。")
        return None

    def _sources(self, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        for tool in body.get("tools") or ():
            spec = tool.get("web_search") if tool.get("type") == "web_search" else None
            if isinstance(spec, dict) and spec.get("enable") and spec.get("search_result"):
                return [{"title": "GLM fake source", "link": "https://example.com/news", "refer": "ref_1",
                         "media": "example", "content": "what the search found"}]
        return None

    def _glm_completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn["text"]}
        if turn["reasoning"]:
            message["reasoning_content"] = turn["reasoning"]
        if turn["tool_calls"]:
            message["tool_calls"] = [{**c, "index": i} for i, c in enumerate(turn["tool_calls"])]
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        out = {"id": "2026112918000000fakeglm", "request_id": "req-fake-glm", "created": int(time.time()),
               "model": body.get("model"), "object": "chat.completion",
               "choices": [{"index": 0, "finish_reason": finish, "message": message}],
               "usage": turn["usage"] or self.usage(12, 7)}
        sources = self._sources(body)
        if sources:
            out["web_search"] = sources
        return out

    def _glm_stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        base = {"id": "2026112918000000fakeglm", "created": int(time.time()), "model": body.get("model")}

        def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
            choice = {"index": 0, "delta": {"role": "assistant", **delta}}
            if "finish_reason" in extra:
                choice["finish_reason"] = extra.pop("finish_reason")
            return b"data: " + orjson.dumps({**base, "choices": [choice], **extra}) + b"\n\n"

        sources = self._sources(body)
        events = [chunk({"content": ""}, **({"web_search": sources} if sources else {}))]
        for word in _pieces(turn["reasoning"] or ""):
            events.append(chunk({"reasoning_content": word}))
        for word in _pieces(turn["text"] or ""):
            events.append(chunk({"content": word}))
        for i, call in enumerate(turn["tool_calls"] or ()):
            fn = call["function"]
            if body.get("tool_stream"):
                args = fn["arguments"]
                half = len(args) // 2
                events.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                     "function": {"name": fn["name"], "arguments": args[:half]}}]}))
                events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}))
            else:
                events.append(chunk({"tool_calls": [{**call, "index": i}]}))
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        events.append(chunk({"content": ""}, finish_reason=finish, usage=turn["usage"] or self.usage(12, 7)))
        events.append(b"data: [DONE]\n\n")
        return Reply.sse(events, delay=turn["delay"], drop_after=turn["drop_after"],
                         error_after=turn.get("error_after"))


def _pieces(text: str) -> list[str]:
    """Words with their leading space: deltas that join back to the text exactly."""
    words = text.split(" ")
    return [w for w in [words[0], *(" " + w for w in words[1:])] if w] if text else []
