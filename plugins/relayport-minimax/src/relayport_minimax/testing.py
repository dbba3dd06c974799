"""A fake MiniMax chat API for tests: MiniMax's wire format and rules on loopback.

What it reproduces, from MiniMax's docs and captured traffic (ENTERPILOT/GoModel's recorded
MiniMax-M2.7 answers, MiniMax-AI/MiniMax-M2 issue 95, MiniMax-M2.5 issue 2):
- reasoning as `<think>...</think>` at the start of `content`, or in `reasoning_details`
  when the request says `reasoning_split: true` (streamed text incremental or cumulative);
- failures as `base_resp.status_code != 0` in a body sent with HTTP 200 (streams too: the
  error comes as a JSON body, or as an event after some output);
- stream chunks with `"role": ""` after the first, placeholder usage (zeros), MiniMax's
  decorations (`name`, `audio_content`, the `*_sensitive*` fields), a last frame that repeats
  the whole message as a `chat.completion` with the real usage, and no `[DONE]`;
- its rules: temperature in (0, 1], text-only M2 models, the key in `Authorization`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest, Reply
from relayport_minimax.testing_media import JPEG, MiniMaxMedia, failure

_SENSITIVE = {"input_sensitive": False, "output_sensitive": False, "input_sensitive_type": 0,
              "output_sensitive_type": 0, "output_sensitive_int": 0}
_STATUS_CODES = {400: 2013, 401: 1004, 402: 1008, 429: 1002, 500: 1000, 504: 1001}


class FakeMiniMax(FakeUpstream):
    """`{url}/v1/chat/completions` (also `/v1/text/chatcompletion_v2`), answering scripted turns.

    :param details: how streamed `reasoning_details` text comes: "incremental" or "cumulative".
    :param last_frame: "message" (the whole message again, as `chat.completion`) or "usage"
        (a `choices: []` chunk with the usage, as MiniMax-M2.7 streams without split end).
    :param done: whether the stream ends with `data: [DONE]` (MiniMax's own streams do not).
    :param finish_in_delta: whether the last delta carries the finish reason (else only the
        repeated last frame does).
    """

    base_path = "/v1"

    def __init__(self, api_key: str | None = "sk-fake-minimax", details: str = "incremental",
                 last_frame: str = "message", done: bool = False, finish_in_delta: bool = True) -> None:
        super().__init__(self._answer)
        self.api_key = api_key
        self.details = details
        self.last_frame = last_frame
        self.done = done
        self.finish_in_delta = finish_in_delta
        self.turns: deque[dict[str, Any]] = deque()
        self.media: MiniMaxMedia | None = None  # video, files, images, speech (made on start)

    def started(self) -> None:
        self.media = MiniMaxMedia(self.url)

    # ---------------------------------------------------------------- scripting

    def queue_text(self, text: str = "", *, reasoning: str | None = None,
                   tool_calls: list[dict[str, Any]] | None = None, finish_reason: str | None = None,
                   usage: dict[str, Any] | None = None, fail_after: int | None = None,
                   fail_code: int = 1027, output_sensitive: bool = False, drop_after: int | None = None,
                   error_after: int | None = None) -> None:
        """The next answer; `fail_after=n` breaks a stream with `base_resp` `fail_code` after n chunks
        (`error_after=n`: the same with the server error 1000, the conformance suite's spelling);
        `drop_after=n` closes the connection after n events."""
        if error_after is not None:
            fail_after, fail_code = error_after, 1000
        self.turns.append(dict(text=text, reasoning=reasoning, tool_calls=tool_calls,
                               finish_reason=finish_reason, usage=usage, fail_after=fail_after,
                               fail_code=fail_code, output_sensitive=output_sensitive, drop_after=drop_after))

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {"total_tokens": prompt + completion, "total_characters": 0,
                               "prompt_tokens": prompt, "completion_tokens": completion}
        if reasoning:
            out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        if cached:
            out["prompt_tokens_details"] = {"cached_tokens": cached}
        return out

    def business_error(self, code: int, message: str, status: int = 200,
                       **fields: Any) -> Reply:
        """MiniMax's failure body: `base_resp` with the business code, by default under HTTP 200."""
        body = {"id": "06fb0000deadbeef", "choices": None, "created": int(time.time()),
                "model": "", "object": "chat.completion", "usage": {"total_tokens": 0},
                **_SENSITIVE, **fields, "base_resp": {"status_code": code, "status_msg": message}}
        return Reply.json(body, status=status)

    def error_reply(self, status: int, message: str) -> Reply:
        return self.business_error(_STATUS_CODES.get(status, 1000), message, status=status)

    # ---------------------------------------------------------------- serving

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.media is not None and not rec.path.endswith(("/v1/chat/completions", "/v1/text/chatcompletion_v2")):
            answered = await self._media(request, rec)
            if answered is not None:
                return answered
        if not rec.path.endswith(("/v1/chat/completions", "/v1/text/chatcompletion_v2")):
            return web.json_response({"base_resp": {"status_code": 404, "status_msg": "not found"}},
                                     status=404)
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, self.business_error(
                1004, "login fail: Please carry the API secret key in the 'Authorization' field "
                      "of the request header"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, self.business_error(2013, "invalid params, json parse error"))
        problem = _invalid(body)
        if problem:
            return await self.play(request, self.business_error(2013, f"invalid params, {problem}"))
        turn = self.turns.popleft() if self.turns else self._echo(body)
        if body.get("stream"):
            return await self.play(request, self._stream(body, turn))
        if turn["fail_after"] is not None:
            code = turn["fail_code"]
            return await self.play(request, self.business_error(code, _MESSAGES.get(code, "error")))
        return await self.play(request, Reply.json(self._completion(body, turn)))

    async def _media(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse | None:
        assert self.media is not None
        if rec.path.startswith("/download/"):  # download URLs: no key, until they expire
            video = self.media.download(rec.path[len("/download/"):].removesuffix(".mp4"))
            return web.Response(body=video, content_type="video/mp4") if video else web.Response(
                status=403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        if rec.path.startswith("/images/"):
            return web.Response(body=JPEG, content_type="image/jpeg")
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, failure(1004, "login fail: Please carry the API secret key in the "
                                                          "'Authorization' field of the request header"))
        try:
            body = orjson.loads(rec.body) if rec.body else {}
        except orjson.JSONDecodeError:
            return await self.play(request, failure(2013, "invalid params, json parse error"))
        reply = self.media.answer(rec.method, rec.path, rec.query, body)
        return await self.play(request, reply) if reply is not None else None

    def _echo(self, body: dict[str, Any]) -> dict[str, Any]:
        last = next((m for m in reversed(body.get("messages") or []) if m.get("role") == "user"), {})
        content = last.get("content")
        text = content if isinstance(content, str) else " ".join(
            p.get("text", "") for p in content or () if isinstance(p, dict))
        return dict(text=f"echo: {text}", reasoning=None, tool_calls=None, finish_reason=None,
                    usage=None, fail_after=None, fail_code=1027, output_sensitive=False)

    def _message(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "name": "MiniMax AI", "audio_content": ""}
        text, reasoning = turn["text"], turn["reasoning"]
        if reasoning and body.get("reasoning_split"):
            msg["content"] = text
            msg["reasoning_details"] = [_detail(reasoning)]
        elif reasoning:
            msg["content"] = f"<think>\n{reasoning}\n</think>\n\n{text}"
        else:
            msg["content"] = text
        if turn["tool_calls"]:
            msg["tool_calls"] = turn["tool_calls"]
        return msg

    def _finish(self, turn: dict[str, Any]) -> str:
        return turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        sensitive = dict(_SENSITIVE, output_sensitive=turn["output_sensitive"],
                         output_sensitive_type=2 if turn["output_sensitive"] else 0)
        return {"id": "06fb728c25c7825a0973c2d386b7da1f", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model"),
                "choices": [{"index": 0, "message": self._message(body, turn),
                             "finish_reason": self._finish(turn)}],
                "usage": turn["usage"] or self.usage(26, 12), **sensitive,
                "base_resp": {"status_code": 0, "status_msg": ""}}

    def _stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        model = body.get("model")
        created = int(time.time())
        sid = "06fb6b59859725e9e95103a455583ff8"
        first = [True]

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            role = "assistant" if first[0] else ""
            first[0] = False
            choice: dict[str, Any] = {"index": 0, "delta": {**delta, "role": role, "name": "MiniMax AI",
                                                            "audio_content": ""}}
            if finish:
                choice = {"finish_reason": finish, **choice}
            obj = {"id": sid, "choices": [choice], "created": created, "model": model,
                   "object": "chat.completion.chunk", "usage": {"total_tokens": 0, "total_characters": 0},
                   **_SENSITIVE}
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        pieces: list[dict[str, Any]] = []
        text, reasoning = turn["text"], turn["reasoning"]
        if reasoning and body.get("reasoning_split"):
            so_far = ""
            for piece in _cut(reasoning, 7):
                so_far += piece
                shown = so_far if self.details == "cumulative" else piece
                pieces.append({"reasoning_details": [_detail(shown)]})
            pieces.extend({"content": p} for p in _cut(text, 5))
        else:
            whole = f"<think>\n{reasoning}\n</think>\n\n{text}" if reasoning else text
            pieces.extend({"content": p} for p in _cut(whole, 5))  # tags cut across chunks
        for i, call in enumerate(turn["tool_calls"] or ()):
            pieces.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                           "function": call["function"]}]})
        events: list[bytes] = []
        finish = self._finish(turn)
        for i, delta in enumerate(pieces or [{"content": ""}]):
            if turn["fail_after"] is not None and i == turn["fail_after"]:
                code = turn["fail_code"]
                events.append(b"data: " + orjson.dumps({
                    "id": sid, "choices": [], "created": created, "model": model,
                    "object": "chat.completion.chunk", **_SENSITIVE,
                    "output_sensitive": code == 1027, "output_sensitive_type": 1 if code == 1027 else 0,
                    "base_resp": {"status_code": code, "status_msg": _MESSAGES.get(code, "error")}}) + b"\n\n")
                return Reply.sse(events)
            last = i == len(pieces) - 1 and self.finish_in_delta
            events.append(chunk(delta, finish if last else None))
        usage = turn["usage"] or self.usage(26, 12)
        done = {"status_code": 0, "status_msg": ""}
        if self.last_frame == "message":
            events.append(b"data: " + orjson.dumps({
                "id": sid, "choices": [{"finish_reason": finish, "index": 0, "message": self._message(body, turn)}],
                "created": created, "model": model, "object": "chat.completion", "usage": usage,
                **_SENSITIVE, "base_resp": done}) + b"\n\n")
        else:
            events.append(b"data: " + orjson.dumps({
                "id": sid, "choices": [], "created": created, "model": model,
                "object": "chat.completion.chunk", "usage": usage, "base_resp": done}) + b"\n\n")
        if self.done:
            events.append(b"data: [DONE]\n\n")
        return Reply.sse(events, drop_after=turn.get("drop_after"))


_MESSAGES = {1000: "unknown error", 1008: "insufficient balance", 1026: "input new_sensitive", 1027: "output new_sensitive",
             1002: "rate limit", 2013: "invalid params"}


def _detail(text: str) -> dict[str, Any]:
    return {"type": "reasoning.text", "id": "reasoning-text-1", "format": "MiniMax-response-v1",
            "index": 0, "text": text}


def _cut(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _invalid(body: Any) -> str | None:
    """What MiniMax refuses with 2013 "invalid params"."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "model is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages is required"
    temperature = body.get("temperature")
    if temperature is not None and not 0 < temperature <= 1:
        return "temperature must be in (0, 1]"
    text_only = not str(body["model"]).lower().startswith("minimax-m3")
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and text_only and any(
                isinstance(p, dict) and p.get("type") != "text" for p in content):
            return "this model only supports text input"
        details = m.get("reasoning_details", []) if isinstance(m, dict) else []
        if not isinstance(details, list):
            return "reasoning_details must be an array"
    return None
