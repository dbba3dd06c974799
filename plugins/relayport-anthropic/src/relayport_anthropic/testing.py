"""A fake Anthropic Messages API on loopback, for tests (this package's and other plugins').

It enforces the rules of the real API that gateways most often break (required `max_tokens`,
alternating roles, tool results right after their tool calls and first in their turn, signed
thinking replayed unmodified, the thinking constraints, no unknown fields) and answers with
realistic JSON or SSE: thinking with signatures, tool use streamed as partial JSON, pings,
and `error` events after a 200 when asked to.

    fake = FakeAnthropic().start()
    fake.queue_turn([{"type": "text", "text": "hi"}])
    anthropic.Anthropic(base_url=fake.base_url, api_key=fake.api_key)
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest, Reply

_TOP_LEVEL = frozenset({
    "model", "max_tokens", "messages", "system", "stop_sequences", "temperature", "top_p", "top_k",
    "stream", "tools", "tool_choice", "thinking", "output_config", "metadata", "service_tier",
    "cache_control", "container", "mcp_servers", "context_management", "inference_geo",
})
_COUNT_TOP_LEVEL = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking",
                              "output_config", "cache_control", "context_management", "mcp_servers"})
_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_BLOCKS = frozenset({"text", "thinking", "redacted_thinking", "tool_use", "server_tool_use",
                               "web_search_tool_result"})
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
# Models that refuse a final assistant turn (prefill): Claude 4.6 and later.
_NO_PREFILL = re.compile(r"^claude-(opus|sonnet|haiku)-(4-[6-9]|[5-9])")
# Models without structured outputs (`output_config.format`): before Claude 4.5.
_NO_STRUCTURED = re.compile(r"^claude-(3|(opus|sonnet|haiku)-4(-[0-4])?(-\d{8})?$|(opus|sonnet|haiku)-4-[0-4]\b)")
# JSON Schema keywords structured outputs accept; anything else is refused.
_SCHEMA_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum",
                              "const", "anyOf", "allOf", "$ref", "$defs", "definitions", "description",
                              "title", "default", "format", "minItems"})
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


class Invalid(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""


def sign(thinking: str) -> str:
    """The fake's thinking signature: replaying a block with changed text fails the check."""
    return "Eq" + hashlib.sha256(b"fake-anthropic:" + thinking.encode()).hexdigest()


def anthropic_error(status: int, message: str, kind: str | None = None,
                    headers: dict[str, str] | None = None) -> Reply:
    return Reply.json({"type": "error", "error": {"type": kind or _ERROR_TYPES.get(status, "api_error"),
                                                  "message": message},
                       "request_id": "req_fake0001"}, status, headers={"request-id": "req_fake0001",
                                                                      **(headers or {})})


def sse(name: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def _words(text: str) -> list[str]:
    out = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    return [w for w in out if w]


class FakeAnthropic(FakeUpstream):
    """`base_url` is what the Anthropic SDK calls base_url (no /v1)."""

    def __init__(self, api_key: str | None = "sk-ant-fake", model: str = "claude-fake") -> None:
        super().__init__(self._answer)
        self.api_key = api_key
        self.model = model
        self.turns: deque[dict[str, Any]] = deque()
        self.redacted: set[str] = set()

    @property
    def base_url(self) -> str:
        return self.url

    # ------------------------------------------------------------ scripting

    def queue_turn(self, content: list[dict[str, Any]], stop_reason: str | None = None,
                   usage: dict[str, Any] | None = None, *, error_after: int | None = None,
                   error: tuple[str, str] = ("overloaded_error", "Overloaded"),
                   delay: float = 0.0, drop_after: int | None = None) -> None:
        """The next answer as Anthropic content blocks. Thinking blocks without a `signature`
        get the fake's own; `error_after` ends a stream with an `error` event after that many
        events (the HTTP status stays 200, as with the real API)."""
        for b in content:
            if b.get("type") == "thinking" and "signature" not in b:
                b["signature"] = sign(b.get("thinking", ""))
            if b.get("type") == "redacted_thinking":
                self.redacted.add(b["data"])
        if stop_reason is None:
            stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
        self.turns.append(dict(content=content, stop_reason=stop_reason, usage=usage,
                               error_after=error_after, error=error, delay=delay, drop_after=drop_after))

    def queue_text(self, text: str = "", *, reasoning: str | None = None,
                   tool_calls: list[dict[str, Any]] | None = None, finish_reason: str | None = None,
                   usage: dict[str, Any] | None = None, delay: float = 0.0,
                   drop_after: int | None = None, error_after: int | None = None) -> None:
        """The conformance suite's scripting call, in OpenAI terms."""
        content: list[dict[str, Any]] = []
        if reasoning:
            content.append({"type": "thinking", "thinking": reasoning})
        if text:
            content.append({"type": "text", "text": text})
        for call in tool_calls or ():
            content.append({"type": "tool_use", "id": call["id"], "name": call["function"]["name"],
                            "input": orjson.loads(call["function"]["arguments"] or "{}")})
        stops = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                 "content_filter": "refusal"}
        self.queue_turn(content, stops.get(finish_reason or ""), usage,
                        delay=delay, drop_after=drop_after, error_after=error_after)

    def error_reply(self, status: int, message: str) -> Reply:
        return anthropic_error(status, message)

    # ------------------------------------------------------------ serving

    def refusal(self, rec: RecordedRequest) -> Reply | None:
        """The answer to a request this API refuses before reading its body (auth, headers,
        path); None when it goes on. Fakes of Anthropic-compatible vendors override it."""
        if self.api_key is not None and rec.headers.get("x-api-key") != self.api_key:
            return anthropic_error(401, "invalid x-api-key")
        if not rec.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        if rec.path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return anthropic_error(404, f"Not found: {rec.path}")
        return None

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if (refused := self.refusal(rec)) is not None:
            return await self.play(request, refused)
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return await self.play(request, anthropic_error(400, "There was an issue with your request body"))
        counting = rec.path.endswith("/count_tokens")
        try:
            self.validate(body, counting)
        except Invalid as exc:
            return await self.play(request, anthropic_error(400, str(exc)))
        if counting:
            return await self.play(request, Reply.json({"input_tokens": self._input_tokens(body)}))
        turn = self.turns.popleft() if self.turns else self._echo(body)
        if body.get("stream"):
            return await self.play(request, self._stream(body, turn))
        return await self.play(request, Reply.json(self._message(body, turn),
                                                   headers={"request-id": "req_fake0001"}))

    def _echo(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]
        content = last["content"]
        text = content if isinstance(content, str) else " ".join(
            b.get("text", "") for b in content if b.get("type") == "text")
        blocks: list[dict[str, Any]] = []
        if (body.get("thinking") or {}).get("type") in ("enabled", "adaptive"):
            thought = f"The user said {text!r}."
            blocks.append({"type": "thinking", "thinking": thought, "signature": sign(thought)})
        blocks.append({"type": "text", "text": f"echo: {text}"})
        return dict(content=blocks, stop_reason="end_turn", usage=None, error_after=None,
                    error=("overloaded_error", "Overloaded"), delay=0.0, drop_after=None)

    def _input_tokens(self, body: dict[str, Any]) -> int:
        return max(1, len(orjson.dumps([body.get("system"), body["messages"], body.get("tools")])) // 4)

    def _usage(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        usage = {"input_tokens": self._input_tokens(body), "output_tokens": 0,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                 "service_tier": "standard"}
        usage["output_tokens"] = max(1, len(orjson.dumps(turn["content"])) // 4)
        usage.update(turn["usage"] or {})
        return usage

    def _message(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        return {"id": "msg_fake0001", "type": "message", "role": "assistant",
                "model": body.get("model"), "content": turn["content"],
                "stop_reason": turn["stop_reason"], "stop_sequence": None,
                "usage": self._usage(body, turn)}

    def _stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        usage = self._usage(body, turn)
        start_usage = {**usage, "output_tokens": 1}
        events = [sse("message_start", {"type": "message_start", "message": {
            "id": "msg_fake0001", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
        for i, block in enumerate(turn["content"]):
            events.extend(self._block_events(i, block))
            if i == 0:
                events.append(sse("ping", {"type": "ping"}))
        events.append(sse("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": turn["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"],
                      "input_tokens": usage["input_tokens"],
                      "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                      "cache_read_input_tokens": usage["cache_read_input_tokens"]}}))
        events.append(sse("message_stop", {"type": "message_stop"}))
        if turn["error_after"] is not None:
            kind, message = turn["error"]
            events = events[: turn["error_after"]]
            events.append(sse("error", {"type": "error", "error": {"type": kind, "message": message},
                                        "request_id": "req_fake0001"}))
        return Reply.sse(events, delay=turn["delay"], drop_after=turn["drop_after"],
                         headers={"request-id": "req_fake0001"})

    @staticmethod
    def _block_events(i: int, block: dict[str, Any]) -> list[bytes]:
        kind = block["type"]

        def delta(d: dict[str, Any]) -> bytes:
            return sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})

        def start(b: dict[str, Any]) -> bytes:
            return sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": b})

        out: list[bytes] = []
        if kind == "text":
            # A cited block opens with an empty `citations` list and streams each citation as a
            # `citations_delta` before its text (Messages streaming reference).
            cites = block.get("citations") or []
            out.append(start({"type": "text", "text": "", "citations": []} if cites else {"type": "text", "text": ""}))
            out.extend(delta({"type": "citations_delta", "citation": c}) for c in cites)
            out.extend(delta({"type": "text_delta", "text": w}) for w in _words(block["text"]))
        elif kind == "thinking":
            out.append(start({"type": "thinking", "thinking": "", "signature": ""}))
            out.extend(delta({"type": "thinking_delta", "thinking": w}) for w in _words(block["thinking"]))
            out.append(delta({"type": "signature_delta", "signature": block["signature"]}))
        elif kind in ("tool_use", "server_tool_use"):  # server tools stream their input too
            out.append(start({"type": kind, "id": block["id"], "name": block["name"], "input": {}}))
            args = orjson.dumps(block["input"]).decode() if block["input"] else ""
            out.append(delta({"type": "input_json_delta", "partial_json": ""}))
            third = max(1, len(args) // 3)
            for k in range(0, len(args), third):
                out.append(delta({"type": "input_json_delta", "partial_json": args[k:k + third]}))
        else:  # redacted_thinking and server-tool blocks arrive whole
            out.append(start(block))
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
        return out

    # ------------------------------------------------------------ the API's rules

    def validate(self, body: Any, counting: bool = False) -> None:
        if not isinstance(body, dict):
            raise Invalid("body: Input should be an object")
        allowed = _COUNT_TOP_LEVEL if counting else _TOP_LEVEL
        for key in body:
            if key not in allowed:
                raise Invalid(f"{key}: Extra inputs are not permitted")
        if not isinstance(body.get("model"), str):
            raise Invalid("model: Field required")
        if not counting:
            mt = body.get("max_tokens")
            if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
                raise Invalid("max_tokens: Field required" if mt is None else "max_tokens: must be >= 1")
        self._validate_system(body.get("system"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Invalid("messages: at least one message is required")
        for i, m in enumerate(messages):
            self._validate_message(m, i, messages[i - 1] if i else None)
        for i, m in enumerate(messages):
            if m["role"] == "assistant":
                self._validate_tool_results(messages, i)
        for key, hi in (("temperature", 1.0), ("top_p", 1.0)):
            v = body.get(key)
            if v is not None and (not isinstance(v, (int, float)) or not 0 <= v <= hi):
                raise Invalid(f"{key}: Input should be less than or equal to {hi}")
        stops = body.get("stop_sequences")
        if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
            raise Invalid("stop_sequences: Input should be a valid list of strings")
        self._validate_tools(body)
        self._validate_thinking(body, messages)
        if not counting:
            self._validate_metadata(body.get("metadata"))
            self._validate_output_format(body)
            model = str(body["model"])
            if messages[-1]["role"] == "assistant" and _NO_PREFILL.match(model):
                raise Invalid("This model does not support assistant message prefill. "
                              "The conversation must end with a user message.")

    @staticmethod
    def _validate_metadata(metadata: Any) -> None:
        if metadata is None:
            return
        if not isinstance(metadata, dict):
            raise Invalid("metadata: Input should be a valid dictionary")
        for key in metadata:
            if key != "user_id":
                raise Invalid(f"metadata.{key}: Extra inputs are not permitted")

    def _validate_output_format(self, body: dict[str, Any]) -> None:
        fmt = (body.get("output_config") or {}).get("format")
        if fmt is None:
            return
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise Invalid("output_config.format: Input should be a json_schema format with a schema")
        if _NO_STRUCTURED.match(str(body["model"])):
            raise Invalid(f"'{body['model']}' does not support output format.")
        self._validate_schema(fmt["schema"], "output_config.format.schema")

    def _validate_schema(self, schema: Any, path: str) -> None:
        if not isinstance(schema, dict):
            raise Invalid(f"{path}: Input should be a valid dictionary")
        for key, value in schema.items():
            if key not in _SCHEMA_KEYWORDS:
                raise Invalid(f"{path}: JSON schema keyword '{key}' is not supported")
            if key == "minItems" and value not in (0, 1):
                raise Invalid(f"{path}.minItems: only 0 and 1 are supported")
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
            raise Invalid(f"{path}: For 'object' type, 'additionalProperties' must be explicitly set to false")
        for name, sub in (schema.get("properties") or {}).items():
            self._validate_schema(sub, f"{path}.properties.{name}")
        for key in ("$defs", "definitions"):
            for name, sub in (schema.get(key) or {}).items():
                self._validate_schema(sub, f"{path}.{key}.{name}")
        if "items" in schema:
            self._validate_schema(schema["items"], f"{path}.items")
        for key in ("anyOf", "allOf"):
            for i, sub in enumerate(schema.get(key) or ()):
                self._validate_schema(sub, f"{path}.{key}.{i}")

    @staticmethod
    def _validate_system(system: Any) -> None:
        if system is None or isinstance(system, str):
            return
        if not isinstance(system, list):
            raise Invalid("system: Input should be a valid string or list")
        for j, b in enumerate(system):
            if not isinstance(b, dict) or b.get("type") != "text" or not isinstance(b.get("text"), str):
                raise Invalid(f"system.{j}: Input should be a text block")

    def _validate_message(self, m: Any, i: int, prev: Any) -> None:
        p = f"messages.{i}"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise Invalid(f"{p}.role: Input should be 'user' or 'assistant'")
        if prev is not None and prev["role"] == m["role"]:
            raise Invalid(f"{p}: roles must alternate between \"user\" and \"assistant\"")
        content = m.get("content")
        if isinstance(content, str):
            if not content and not (i and m["role"] == "assistant"):
                raise Invalid(f"{p}: all messages must have non-empty content")
            return
        if not isinstance(content, list) or not content:
            raise Invalid(f"{p}: all messages must have non-empty content")
        allowed = _USER_BLOCKS if m["role"] == "user" else _ASSISTANT_BLOCKS
        for j, b in enumerate(content):
            bp = f"{p}.content.{j}"
            if not isinstance(b, dict) or b.get("type") not in allowed:
                raise Invalid(f"{bp}.type: unexpected block type {b.get('type') if isinstance(b, dict) else b!r}"
                              f" in a {m['role']} message")
            self._validate_block(b, bp)

    def _validate_block(self, b: dict[str, Any], p: str) -> None:
        kind = b["type"]
        if kind == "text":
            if not isinstance(b.get("text"), str) or not b["text"].strip():
                raise Invalid(f"{p}: text content blocks must contain non-whitespace text")
        elif kind == "image":
            src = b.get("source") or {}
            if src.get("type") == "base64":
                if src.get("media_type") not in _IMAGE_TYPES or not isinstance(src.get("data"), str):
                    raise Invalid(f"{p}.source.media_type: Input should be 'image/jpeg', 'image/png', "
                                  "'image/gif' or 'image/webp'")
            elif src.get("type") == "url":
                if not str(src.get("url", "")).startswith(("http://", "https://")):
                    raise Invalid(f"{p}.source.url: invalid URL")
            elif src.get("type") != "file":
                raise Invalid(f"{p}.source: unexpected source type")
        elif kind == "document":
            src = b.get("source") or {}
            st = src.get("type")
            if st == "base64" and src.get("media_type") != "application/pdf":
                raise Invalid(f"{p}.source.media_type: Input should be 'application/pdf'")
            if st == "text" and (src.get("media_type") != "text/plain" or not isinstance(src.get("data"), str)):
                raise Invalid(f"{p}.source: text documents need media_type text/plain and data")
            if st not in ("base64", "text", "url", "content", "file"):
                raise Invalid(f"{p}.source: unexpected source type")
        elif kind == "tool_use":
            if not isinstance(b.get("id"), str) or not _TOOL_ID.match(b["id"]):
                raise Invalid(f"{p}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            if not isinstance(b.get("input"), dict):
                raise Invalid(f"{p}.input: Input should be a valid dictionary")
        elif kind == "tool_result":
            if not isinstance(b.get("tool_use_id"), str) or not _TOOL_ID.match(b["tool_use_id"]):
                raise Invalid(f"{p}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            content = b.get("content")
            if isinstance(content, list):
                for k, x in enumerate(content):
                    if not isinstance(x, dict) or x.get("type") not in ("text", "image", "document", "search_result"):
                        raise Invalid(f"{p}.content.{k}: unexpected block in a tool_result")
                    self._validate_block(x, f"{p}.content.{k}")
            elif content is not None and not isinstance(content, str):
                raise Invalid(f"{p}.content: Input should be a valid string or list")
        elif kind == "thinking":
            if not b.get("signature"):
                raise Invalid(f"{p}.signature: Field required")
            if b["signature"] != sign(b.get("thinking", "")):
                raise Invalid(f"{p}: Invalid `signature` in `thinking` block")
        elif kind == "redacted_thinking" and b.get("data") not in self.redacted:
            raise Invalid(f"{p}: Invalid `data` in `redacted_thinking` block")

    @staticmethod
    def _validate_tool_results(messages: list[dict[str, Any]], i: int) -> None:
        content = messages[i]["content"]
        if isinstance(content, str):
            return
        ids = [b["id"] for b in content if b.get("type") == "tool_use"]
        if not ids:
            return
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        if nxt is None:
            return  # a prefill ending in tool_use: the model continues
        blocks = nxt["content"] if isinstance(nxt["content"], list) else []
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        missing = [x for x in ids if x not in results]
        if missing:
            raise Invalid(f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                          f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                          "corresponding `tool_result` block in the next message.")
        extra = [x for x in results if x not in ids]
        if extra:
            raise Invalid(f"messages.{i + 1}.content: unexpected `tool_use_id` found in `tool_result` "
                          f"blocks: {extra[0]}. Each `tool_result` block must have a corresponding "
                          "`tool_use` block in the previous message.")
        seen_other = False
        for b in blocks:
            if b.get("type") != "tool_result":
                seen_other = True
            elif seen_other:
                raise Invalid(f"messages.{i + 1}.content: tool_result blocks must come first in the message")

    @staticmethod
    def _validate_tools(body: dict[str, Any]) -> None:
        tools = body.get("tools")
        if tools is not None:
            if not isinstance(tools, list):
                raise Invalid("tools: Input should be a valid list")
            for j, t in enumerate(tools):
                if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                    raise Invalid(f"tools.{j}.name: Field required")
                if t.get("type") in (None, "custom"):
                    schema = t.get("input_schema")
                    if not isinstance(schema, dict) or schema.get("type") != "object":
                        raise Invalid(f"tools.{j}.input_schema: Input should be an object schema")
                    for key in t:
                        if key not in ("type", "name", "description", "input_schema", "cache_control", "strict"):
                            raise Invalid(f"tools.{j}.{key}: Extra inputs are not permitted")
        choice = body.get("tool_choice")
        if choice is not None:
            if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
                raise Invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
            if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
                raise Invalid("tool_choice.name: Field required")
            if choice["type"] == "none" and "disable_parallel_tool_use" in choice:
                raise Invalid("tool_choice.disable_parallel_tool_use: Extra inputs are not permitted")

    @staticmethod
    def _validate_thinking(body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        thinking = body.get("thinking")
        if thinking is None:
            return
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind not in ("enabled", "disabled", "adaptive"):
            raise Invalid("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
        if kind == "disabled":
            return
        if kind == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if "max_tokens" in body and budget >= body["max_tokens"]:
                raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
        if body.get("temperature") not in (None, 1, 1.0):
            raise Invalid("`temperature` may only be set to 1 when thinking is enabled")
        if body.get("top_k") is not None:
            raise Invalid("`top_k` may not be set when thinking is enabled")
        if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
            raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")
        last = messages[-1]
        if (len(messages) >= 2 and last["role"] == "user" and isinstance(last["content"], list)
                and any(b.get("type") == "tool_result" for b in last["content"])):
            prev = messages[-2]["content"]
            first = prev[0].get("type") if isinstance(prev, list) and prev else "text"
            if first not in ("thinking", "redacted_thinking"):
                raise Invalid(f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
                              f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, a "
                              "final `assistant` message must start with a thinking block.")
