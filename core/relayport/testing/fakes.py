"""Fake vendor servers for tests: they speak a vendor's real wire format on loopback.

`FakeUpstream` records every request and plays scripted `Reply`s; `FakeOpenAI` adds the
OpenAI chat protocol on top (JSON and SSE answers, error envelopes, auth), so OpenAI-compatible
vendor plugins test against it with their own quirks switched on.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Self

import attrs
import orjson
from aiohttp import web

from relayport.testing.openai_media import OpenAIMedia
from relayport.testing.servers import ServerThread


@attrs.define
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]

    def json(self) -> Any:
        return orjson.loads(self.body)


@attrs.define
class Reply:
    """One scripted answer.

    :param status: HTTP status.
    :param body: a JSON-able object, or raw bytes.
    :param events: SSE events (raw bytes, each a complete `data: ...\\n\\n` block) for a stream.
    :param delay: seconds to wait before each event (or before the body).
    :param drop_after: close the connection abruptly after this many events.
    :param error_after: after this many events send `error_event` (the vendor's in-band error,
        by default the `data: {"error": {...}}` chunk OpenAI-compatible servers send) and end.
    :param hang: accept the request and never answer.
    :param reset: close the connection before sending any header (a crashed or restarted vendor).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = attrs.field(factory=dict)
    events: list[bytes] | None = None
    delay: float = 0.0
    drop_after: int | None = None
    error_after: int | None = None
    error_event: bytes = b'data: {"error":{"message":"The server had an error while processing your request.",' \
        b'"type":"server_error","param":null,"code":null}}\n\n'
    hang: bool = False
    reset: bool = False

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status=status, body=obj, headers=headers or {})

    @classmethod
    def sse(cls, events: list[bytes], **kwargs: Any) -> Reply:
        return cls(events=events, **kwargs)


Handler = Callable[[web.Request, RecordedRequest], Awaitable[web.StreamResponse]]


class FakeUpstream:
    """A recording fake server. Queue replies with `push`; without one, `default` answers.

    `base_url` is what the vendor's SDK calls its base URL: the server's URL and `base_path`.
    """

    base_path = ""

    def __init__(self, default: Handler | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.replies: deque[Reply] = deque()
        self.default = default
        self.server: ServerThread | None = None
        self.open_streams = 0  # streams currently being written (to prove cancellation)
        self.cancelled_streams = 0
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the fake first"
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.url + self.base_path

    def start(self) -> Self:
        self.server = ServerThread(self.app).start()
        self.started()
        return self

    def started(self) -> None:
        """Build what needs the server's URL (a subclass's media helpers, whose links point here)."""

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def push(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = RecordedRequest(
            request.method, request.path, {k.lower(): v for k, v in request.headers.items()},
            await request.read(), dict(request.query),
        )
        self.requests.append(rec)
        if self.replies:
            return await self.play(request, self.replies.popleft())
        if self.default is None:
            return web.json_response({"error": {"message": "no reply scripted"}}, status=500)
        return await self.default(request, rec)

    async def play(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.hang:
            await asyncio.sleep(3600)
        if reply.reset:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=reply.status)
        if reply.events is None:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            body = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
            headers = {"Content-Type": "application/json", **reply.headers}
            return web.Response(status=reply.status, body=body, headers=headers)
        resp = web.StreamResponse(
            status=reply.status, headers={"Content-Type": "text/event-stream", **reply.headers}
        )
        await resp.prepare(request)
        self.open_streams += 1
        try:
            for i, event in enumerate(reply.events):
                if reply.error_after is not None and i >= reply.error_after:
                    await resp.write(reply.error_event)
                    break
                if reply.drop_after is not None and i >= reply.drop_after:
                    # Abrupt close: no terminating chunk, like a vendor crashing mid-stream.
                    assert request.transport is not None
                    request.transport.abort()
                    return resp
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                await resp.write(event)
            await resp.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled_streams += 1
            raise
        finally:
            self.open_streams -= 1
        return resp


# ----------------------------------------------------------------------------- OpenAI


def _counts(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _openai_usage(prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    return {**_counts(prompt, completion),
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0}}


def _deepseek_usage(prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    # DeepSeek reports cache hits in its own fields, not in prompt_tokens_details.
    return {**_counts(prompt, completion), "prompt_cache_hit_tokens": cached,
            "prompt_cache_miss_tokens": prompt - cached,
            "completion_tokens_details": {"reasoning_tokens": reasoning}}


def _counts_usage(prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    return _counts(prompt, completion)


def _top_cached_usage(prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    return {**_counts(prompt, completion), "cached_tokens": cached}


def _reasoning_if_any_usage(prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    usage = {**_counts(prompt, completion), "prompt_tokens_details": {"cached_tokens": cached}}
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


# How vendors spell a call's `usage` (FakeOpenAI's `usage_style`): each takes the prompt,
# completion, cache-hit and reasoning token counts.
USAGE_STYLES: dict[str, Callable[[int, int, int, int], dict[str, Any]]] = {
    # OpenAI: cache hits and reasoning in the details, with audio counts.
    "openai": _openai_usage,
    "deepseek": _deepseek_usage,
    # The three counts only (Mistral, iFlytek Spark).
    "counts": _counts_usage,
    # Cache hits as a top-level `cached_tokens` (Moonshot Kimi, StepFun).
    "top_cached": _top_cached_usage,
    # Cache hits in prompt_tokens_details always, reasoning details only when it thought
    # (DashScope, Zhipu GLM).
    "reasoning_if_any": _reasoning_if_any_usage,
}


def openai_error(status: int, message: str, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> Reply:
    return Reply.json({"error": {"message": message, "type": type, "param": param, "code": code}}, status)


class FakeOpenAI(FakeUpstream):
    """A fake OpenAI-compatible chat API at `{url}/v1/chat/completions`.

    Without scripted replies it answers "echo: <last user text>" (streamed word by word when
    asked to stream), honouring `stream_options.include_usage`. `queue_text` scripts a turn
    rendered as JSON or SSE depending on the request, like the real API.

    Quirks of OpenAI-compatible vendors, as options (a plugin's tests play its vendor with them):

    :param reasoning_field: the message/delta field reasoning goes in (StepFun: "reasoning").
    :param usage_style: how the vendor spells a call's usage, a key of `USAGE_STYLES`.
    :param usage_placement: where a stream's usage goes: "openai" (a separate final chunk with
        empty `choices`, only when `stream_options.include_usage` asked), "choice" (inside
        `choices[0].usage` of the finishing chunk, always: Kimi), "last_chunk" (top-level usage
        on the finishing chunk, always), "every_chunk" (cumulative usage on every chunk, always).
    :param think_tags: reasoning goes into `content` as `<think>...</think>` (MiniMax, vLLM),
        streamed in pieces of 3 characters so tags straddle chunks.
    :param finish_spellings: finish reasons renamed on the wire (e.g. {"length": "max_tokens"}).
    :param open_finish: what non-final chunks carry as `finish_reason` (DashScope: the string
        "null", MiniMax: ""); OpenAI sends null.
    :param bare: omit `id`, `object`, `created`, `logprobs` and `refusal` like minimal servers do.
    """

    base_path = "/v1"

    def __init__(self, api_key: str | None = "sk-fake-upstream", reasoning_field: str = "reasoning_content",
                 usage_style: str = "openai", *, usage_placement: str = "openai", think_tags: bool = False,
                 finish_spellings: dict[str, str] | None = None, open_finish: Any = None,
                 bare: bool = False) -> None:
        super().__init__(self._answer)
        self.api_key = api_key
        self.reasoning_field = reasoning_field
        if usage_style not in USAGE_STYLES:
            raise ValueError(f"usage_style {usage_style!r} is none of {sorted(USAGE_STYLES)}")
        self.usage_style = usage_style
        self.usage_placement = usage_placement
        self.think_tags = think_tags
        self.finish_spellings = finish_spellings or {}
        self.open_finish = open_finish
        self.bare = bare
        self.turns: deque[dict[str, Any]] = deque()
        self.media: OpenAIMedia | None = None  # images, videos, speech, embeddings (made on start)

    def started(self) -> None:
        self.media = OpenAIMedia(self.url)

    def queue_text(self, text: str = "", *, reasoning: str | None = None,
                   tool_calls: list[dict[str, Any]] | None = None, finish_reason: str | None = None,
                   usage: dict[str, Any] | None = None, delay: float = 0.0,
                   drop_after: int | None = None, error_after: int | None = None) -> None:
        """The next turn; `drop_after=n` closes a stream's connection after n events,
        `error_after=n` sends the in-band error chunk OpenAI-compatible servers send
        (`data: {"error": {...}}`) after n events and ends the stream there."""
        self.turns.append(dict(text=text, reasoning=reasoning, tool_calls=tool_calls,
                               finish_reason=finish_reason, usage=usage, delay=delay,
                               drop_after=drop_after, error_after=error_after))

    def error_reply(self, status: int, message: str) -> Reply:
        kinds = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded",
                 500: "server_error"}
        return openai_error(status, message, kinds.get(status, "server_error"))

    def usage(self, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
        """A call's `usage` object in the vendor's spelling (`usage_style`)."""
        return USAGE_STYLES[self.usage_style](prompt, completion, cached, reasoning)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if self.media is not None and rec.path.startswith("/files/"):
            answer = await self.media.answer(request, rec.path, rec.body)
            assert answer is not None
            return answer
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.play(request, openai_error(
                401, "Incorrect API key provided.", code="invalid_api_key"))
        if rec.path.endswith("/responses/input_tokens"):
            said = orjson.loads(rec.body).get("input")
            return await self.play(request, Reply.json({"object": "response.input_tokens",
                                                        "input_tokens": len(str(said).split())}))
        if rec.path.endswith("/responses"):
            return await self.play(request, self._responses_reply(rec))
        if not rec.path.endswith("/chat/completions") and self.media is not None:
            answer = await self.media.answer(request, rec.path, rec.body)
            if answer is not None:
                return answer
        if not rec.path.endswith("/chat/completions"):
            return await self.play(request, openai_error(404, f"Unknown path {rec.path}", code="unknown_url"))
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, openai_error(400, "We could not parse the JSON body."))
        turn = self.turns.popleft() if self.turns else self._echo(body)
        if body.get("stream"):
            return await self.play(request, self._stream_reply(body, turn))
        return await self.play(request, Reply.json(self._completion(body, turn), headers={}))

    def _echo(self, body: dict[str, Any]) -> dict[str, Any]:
        text = ""
        for m in reversed(body.get("messages") or []):
            if m.get("role") == "user":
                c = m.get("content")
                text = c if isinstance(c, str) else " ".join(
                    p.get("text", "") for p in c or [] if isinstance(p, dict) and p.get("type") == "text")
                break
        return dict(text=f"echo: {text}", reasoning=None, tool_calls=None, finish_reason=None,
                    usage=None, delay=0.0, drop_after=None, error_after=None)

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn["text"] or None, "refusal": None}
        if turn["reasoning"] and self.think_tags:
            message["content"] = f"<think>{turn['reasoning']}</think>\n" + (turn["text"] or "")
        elif turn["reasoning"]:
            message[self.reasoning_field] = turn["reasoning"]
        if turn["tool_calls"]:
            message["tool_calls"] = turn["tool_calls"]
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": self.finish_spellings.get(finish, finish)}
        out = {
            "id": "chatcmpl-fake123", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": "fp_fake",
            "choices": [choice],
            "usage": turn["usage"] or self.usage(12, 7),
        }
        if self.bare:
            for key in ("id", "object", "created"):
                del out[key]
            del choice["logprobs"], message["refusal"]
        return out

    def _stream_reply(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        base: dict[str, Any] = {"id": "chatcmpl-fake123", "object": "chat.completion.chunk",
                                "created": int(time.time()), "model": body.get("model"),
                                "system_fingerprint": "fp_fake"}
        if self.bare:
            base = {"model": body.get("model")}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        placement = self.usage_placement
        final_usage = turn["usage"] or self.usage(12, 7)
        sent = 0

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            nonlocal sent
            sent += 1
            wire_finish = self.open_finish if finish is None else self.finish_spellings.get(finish, finish)
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": wire_finish}
            if not self.bare:
                choice["logprobs"] = None
            obj = {**base, "choices": [choice]}
            if placement == "openai" and include_usage:
                obj["usage"] = None
            elif placement == "every_chunk":
                obj["usage"] = final_usage if finish else self.usage(12, sent)
            elif finish and placement == "last_chunk":
                obj["usage"] = final_usage
            elif finish and placement == "choice":
                choice["usage"] = final_usage
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        if turn["reasoning"] and self.think_tags:
            tagged = f"<think>{turn['reasoning']}</think>\n" + (turn["text"] or "")
            for i in range(0, len(tagged), 3):
                events.append(chunk({"content": tagged[i:i + 3]}))
        else:
            if turn["reasoning"]:
                for word in _pieces(turn["reasoning"]):
                    events.append(chunk({self.reasoning_field: word}))
            for word in _pieces(turn["text"] or ""):
                events.append(chunk({"content": word}))
        for i, call in enumerate(turn["tool_calls"] or ()):
            args = call["function"]["arguments"]
            half = len(args) // 2
            events.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[:half]}}]}))
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}))
        finish = turn["finish_reason"] or ("tool_calls" if turn["tool_calls"] else "stop")
        events.append(chunk({}, finish))
        if include_usage and placement == "openai":
            events.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": final_usage}) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return Reply.sse(events, delay=turn["delay"], drop_after=turn["drop_after"],
                         error_after=turn.get("error_after"))


    def _responses_reply(self, rec: RecordedRequest) -> Reply:
        """OpenAI's own Responses API: a queued turn (text, reasoning, tool calls) or "echo:
        <last user text>", as a Response object or its event stream. Reasoning comes with an
        `encrypted_content` the fake checks when it is sent back (`rs_fake<n>`, `enc:<text>`)."""
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return openai_error(400, "We could not parse the JSON body.")
        said = body.get("input")
        if isinstance(said, list):
            for item in said:
                if not isinstance(item, dict):
                    return openai_error(400, "Invalid input item.", param="input")
                if item.get("type") == "reasoning" and item.get("encrypted_content") != "enc:" + "".join(
                        x.get("text", "") for x in item.get("summary") or ()):
                    return openai_error(400, "The encrypted content for a reasoning item could not be verified.",
                                        param="input", code="invalid_encrypted_content")
            users = [i for i in said if i.get("role") == "user"]
            content = users[-1].get("content") if users else ""
            said = content if isinstance(content, str) else " ".join(
                p.get("text", "") for p in content or () if p.get("type") == "input_text")
        elif not isinstance(said, str):
            return openai_error(400, "'input' must be a string or an array.", param="input")
        turn: dict[str, Any] = self.turns.popleft() if self.turns else dict(
            text=f"echo: {said}", reasoning=None, tool_calls=None, finish_reason=None, usage=None, delay=0.0,
            drop_after=None)
        output: list[dict[str, Any]] = []
        if turn["reasoning"]:
            output.append({"id": f"rs_fake{len(self.requests)}", "type": "reasoning",
                           "summary": [{"type": "summary_text", "text": turn["reasoning"]}],
                           "encrypted_content": "enc:" + turn["reasoning"]})
        if turn["text"]:
            output.append({"id": "msg_fake1", "type": "message", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": turn["text"], "annotations": [],
                                        "logprobs": []}]})
        for i, call in enumerate(turn["tool_calls"] or ()):
            output.append({"id": f"fc_fake{i}", "type": "function_call", "status": "completed",
                           "call_id": call["id"], "name": call["function"]["name"],
                           "arguments": call["function"]["arguments"]})
        usage = {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                 "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 12}
        response: dict[str, Any] = {
            "id": "resp_fake1", "object": "response", "created_at": int(time.time()), "status": "completed",
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
            "model": body.get("model"), "output": output, "parallel_tool_calls": True, "metadata": {},
            "tool_choice": "auto", "tools": [], "temperature": 1.0, "top_p": 1.0, "usage": usage,
            "store": body.get("store", True),
        }
        if turn["finish_reason"] == "length":
            response["status"] = "incomplete"
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        if not body.get("stream"):
            return Reply.json(response)
        start = {**response, "status": "in_progress", "output": []}
        del start["usage"]
        events: list[dict[str, Any]] = [{"type": "response.created", "response": start}]
        for n, item in enumerate(output):
            events.append({"type": "response.output_item.added", "output_index": n,
                           "item": {**item, "status": "in_progress", "content": [], "arguments": "",
                                    "summary": [], "encrypted_content": None}})
            if item["type"] == "message":
                for word in _pieces(item["content"][0]["text"]):
                    events.append({"type": "response.output_text.delta", "item_id": item["id"], "output_index": n,
                                   "content_index": 0, "delta": word, "logprobs": []})
            elif item["type"] == "reasoning":
                for word in _pieces(item["summary"][0]["text"]):
                    events.append({"type": "response.reasoning_summary_text.delta", "item_id": item["id"],
                                   "output_index": n, "summary_index": 0, "delta": word})
            else:
                args = item["arguments"]
                for piece in (args[:len(args) // 2], args[len(args) // 2:]):
                    events.append({"type": "response.function_call_arguments.delta", "item_id": item["id"],
                                   "output_index": n, "delta": piece})
            events.append({"type": "response.output_item.done", "output_index": n, "item": item})
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        events.append({"type": kind, "response": response})
        # The added items carry only the fields of their own type.
        for ev in events:
            item = ev.get("item")
            if ev["type"] == "response.output_item.added" and item is not None:
                keep = {"message": ("content",), "reasoning": ("summary", "encrypted_content"),
                        "function_call": ("arguments",)}[item["type"]]
                for key in ("content", "arguments", "summary", "encrypted_content"):
                    if key not in keep:
                        item.pop(key, None)
        return Reply.sse([b"event: " + ev["type"].encode() + b"\ndata: "
                          + orjson.dumps({**ev, "sequence_number": i}) + b"\n\n" for i, ev in enumerate(events)],
                         delay=turn["delay"], drop_after=turn["drop_after"])


def _pieces(text: str) -> list[str]:
    """Split text into stream deltas that concatenate back to it exactly."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        out.append(word if i == 0 else " " + word)
    return [p for p in out if p]
