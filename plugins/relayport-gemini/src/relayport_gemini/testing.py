"""A fake Gemini API on loopback, for tests (this package's and other plugins').

It enforces the rules of the real API that gateways most often break (roles user/model,
function responses that answer the calls of the turn before them, thought signatures on a
Gemini 3 function-call replay, tool schemas without keys Gemini does not know, thinking
config the model takes, no unknown fields, the API key in `x-goog-api-key` or `?key=`) and
answers like the real one: thought parts, signed function calls, `alt=sse` streams or the
JSON-array stream, safety blocks, and Google's error envelope with `RetryInfo` on a 429.

    fake = FakeGemini().start()
    fake.queue_text("hi")
    genai.Client(api_key=fake.api_key, http_options={"base_url": fake.base_url})
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest, Reply

_TOP_LEVEL = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
                        "safetySettings", "cachedContent", "labels"})
_GENERATION = frozenset({
    "temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount", "seed",
    "presencePenalty", "frequencyPenalty", "responseMimeType", "responseSchema", "responseJsonSchema",
    "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities", "mediaResolution",
    "speechConfig", "enableEnhancedCivicAnswers",
})
_PART = frozenset({"text", "inlineData", "fileData", "functionCall", "functionResponse", "thought",
                   "thoughtSignature", "videoMetadata", "executableCode", "codeExecutionResult"})
_SCHEMA = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
})
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_PATH = re.compile(r"^/(v1beta|v1)/models/([^:/]+):(generateContent|streamGenerateContent|countTokens)$")
SKIP_SIGNATURE = "skip_thought_signature_validator"


def _signature_bytes(sig: str) -> bytes:
    """Signatures are bytes in the API; JSON carries them as base64, standard or URL-safe
    (google-genai re-encodes URL-safe), and both mean the same bytes."""
    try:
        return base64.b64decode(sig.replace("-", "+").replace("_", "/") + "==")
    except (binascii.Error, ValueError):
        return b""


class Invalid(Exception):
    """A request the real API would refuse with 400 INVALID_ARGUMENT."""


def sign(what: str) -> str:
    """The fake's thought signature (base64, like the real opaque bytes)."""
    return base64.b64encode(hashlib.sha256(b"fake-gemini:" + what.encode()).digest()).decode()


def google_error(status: int, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> Reply:
    err: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if details is not None:
        err["details"] = details
    return Reply.json({"error": err}, status, headers=headers)


def rate_limited(retry_delay: str = "47s", per_day: bool = False) -> Reply:
    quota = "GenerateRequestsPerDayPerProjectPerModel-FreeTier" if per_day else \
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    return google_error(429, "You exceeded your current quota, please check your plan and billing details.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "quotaId": quota}]},
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more",
                                                                     "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
    ])


def _pieces(text: str) -> list[str]:
    out = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    return [p for p in out if p]


# OpenAI's finish reasons as Gemini says them.
_FINISH_WORDS = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP"}
# What Google's stream carries when generation fails after it began.
_STREAM_ERROR = {"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}


class FakeGemini(FakeUpstream):
    """A fake Gemini API. Without scripted turns it answers "echo: <last user text>"."""

    def __init__(self, api_key: str | None = "gm-fake-upstream-key") -> None:
        super().__init__(self._answer)
        self.api_key = api_key
        self.turns: deque[dict[str, Any]] = deque()
        self.issued: set[str] = set()  # signatures handed out; a replay must bring one back
        self.count = 0

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def _issued_bytes(self) -> set[bytes]:
        return {_signature_bytes(s) for s in self.issued}

    # ------------------------------------------------------------------ scripting

    def queue_turn(self, parts: list[dict[str, Any]], finish: str | None = "STOP",
                   usage: dict[str, Any] | None = None, block_reason: str | None = None,
                   delay: float = 0.0, drop_after: int | None = None,
                   metadata: dict[str, Any] | None = None) -> None:
        """The next answer's parts (`{"text"}`, `{"text","thought":true}`, `{"functionCall"}`).
        On Gemini 3 models the first function call of the answer (or, without calls, the
        last part) is signed, as the real API does. `metadata`: candidate fields such as
        `groundingMetadata`, on the last chunk of a stream as the API sends them."""
        self.turns.append(dict(parts=parts, finish=finish, usage=usage, block_reason=block_reason,
                               delay=delay, drop_after=drop_after, metadata=metadata))

    def queue_text(self, text: str = "", *, reasoning: str | None = None,
                   tool_calls: list[dict[str, Any]] | None = None, finish_reason: str | None = None,
                   error_after: int | None = None, **kwargs: Any) -> None:
        """The conformance suite's scripting call, in OpenAI's terms: `finish_reason` as Gemini's
        word for it, `tool_calls` as `functionCall` parts, `error_after=n` as the error object
        Google's stream carries after n chunks."""
        parts: list[dict[str, Any]] = []
        if reasoning:
            parts.append({"text": reasoning, "thought": True})
        if text or not tool_calls:
            parts.append({"text": text})
        for call in tool_calls or ():
            parts.append({"functionCall": {"name": call["function"]["name"],
                                           "args": orjson.loads(call["function"]["arguments"] or "{}")}})
        if finish_reason is not None:
            kwargs["finish"] = _FINISH_WORDS[finish_reason]
        self.queue_turn(parts, **kwargs)
        self.turns[-1]["error_after"] = error_after

    def error_reply(self, status: int, message: str) -> Reply:
        if status == 429:
            reply = rate_limited()
            reply.body["error"]["message"] = message
            return reply
        return google_error(status, message)

    # ------------------------------------------------------------------ serving

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        key = rec.headers.get("x-goog-api-key") or rec.query.get("key")
        if self.api_key is not None and key != self.api_key:
            return await self.play(request, google_error(
                400, "API key not valid. Please pass a valid API key.", [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                     "domain": "googleapis.com"}]))
        if request.method == "GET" and rec.path.rstrip("/") in ("/v1beta/models", "/v1/models"):
            return web.json_response({"models": [self._model_info("gemini-2.5-flash")]})
        match = _PATH.match(rec.path)
        if request.method != "POST" or match is None:
            return await self.play(request, google_error(404, f"Method not found: {rec.path}"))
        model, action = match.group(2), match.group(3)
        try:
            body = orjson.loads(rec.body)
            if not isinstance(body, dict):
                raise Invalid("Invalid JSON payload received. Expected an object.")
            if action == "countTokens" and "generateContentRequest" in body:
                body = self._count_request(body, model)
            self._check(body, model)
        except orjson.JSONDecodeError:
            return await self.play(request, google_error(400, "Invalid JSON payload received."))
        except Invalid as exc:
            return await self.play(request, google_error(400, str(exc)))
        if action == "countTokens":
            return web.json_response({"totalTokens": self._prompt_tokens(body) + self._steering_tokens(body)})
        turn = self.turns.popleft() if self.turns else self._echo(body)
        response = self._response(body, model, turn)
        if action == "generateContent":
            return await self.play(request, Reply.json(response))
        chunks = self._chunks(response, turn)
        if rec.query.get("alt") == "sse":
            return await self.play(request, Reply.sse(
                [b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks],
                delay=turn["delay"], drop_after=turn["drop_after"], error_after=turn.get("error_after"),
                error_event=b"data: " + orjson.dumps(_STREAM_ERROR) + b"\r\n\r\n"))
        # Without alt=sse: one JSON array, written element by element as it is generated.
        pieces = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(c) for i, c in enumerate(chunks)]
        pieces.append(b"]")
        reply = Reply.sse(pieces, delay=turn["delay"], drop_after=turn["drop_after"],
                          headers={"Content-Type": "application/json; charset=UTF-8"},
                          error_after=turn.get("error_after"),
                          error_event=b",\r\n" + orjson.dumps(_STREAM_ERROR) + b"]")
        return await self.play(request, reply)

    @staticmethod
    def _model_info(name: str) -> dict[str, Any]:
        return {"name": f"models/{name}", "displayName": name, "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536, "supportedGenerationMethods": ["generateContent", "countTokens"]}

    # ------------------------------------------------------------------ the rules

    def _check(self, body: dict[str, Any], model: str) -> None:
        for key in body:
            if key not in _TOP_LEVEL:
                raise Invalid(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise Invalid("* GenerateContentRequest.contents: contents is not specified")
        gemini3 = model.startswith("gemini-3")
        # The current turn: everything after the last user content with text in it.
        current = 0
        for i, c in enumerate(contents):
            if c.get("role") == "user" and any("text" in p for p in c.get("parts") or ()):
                current = i
        pending: list[str] | None = None  # names of the calls awaiting their responses
        for i, c in enumerate(contents):
            role = c.get("role")
            if role not in ("user", "model"):
                raise Invalid(f"Please use a valid role: user, model. (contents[{i}].role: {role!r})")
            parts = c.get("parts")
            if not isinstance(parts, list) or not parts:
                raise Invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
            for j, p in enumerate(parts):
                self._check_part(p, f"contents[{i}].parts[{j}]")
            if i and contents[i - 1].get("role") == role:
                raise Invalid("Please ensure that multiturn requests alternate between user and model.")
            calls = [p["functionCall"] for p in parts if "functionCall" in p]
            responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
            if responses and (pending is None or sorted(r.get("name") for r in responses) != sorted(pending)):
                raise Invalid("Please ensure that the number of function response parts is equal to the "
                              "number of function call parts of the function call turn.")
            pending = None
            if calls:
                if role != "model":
                    raise Invalid(f"contents[{i}]: function calls come from the model.")
                if i == 0 or contents[i - 1].get("role") != "user":
                    raise Invalid("Please ensure that function call turn comes immediately after a user turn "
                                  "or after a function response turn.")
                pending = [str(fc.get("name")) for fc in calls]
                first = next(p for p in parts if "functionCall" in p)
                sig = first.get("thoughtSignature")
                if gemini3 and i > current and sig is None:
                    raise Invalid(
                        "Function call is missing a thought_signature in functionCall parts. This is required "
                        "for tools to work correctly, and missing thought_signature may lead to degraded model "
                        f"performance. Additional data, function call `default_api:{first['functionCall'].get('name')}`"
                        f", position {i + 1}.")
            for p in parts:
                sig = p.get("thoughtSignature")
                if sig is not None and sig != SKIP_SIGNATURE and _signature_bytes(sig) not in self._issued_bytes:
                    raise Invalid("Corrupted thought signature.")
        for t in body.get("tools") or ():
            for d in t.get("functionDeclarations") or ():
                if "parameters" in d:
                    self._check_schema(d["parameters"], f"function_declarations[{d.get('name')}].parameters")
        self._check_generation(body.get("generationConfig") or {}, model)

    def _check_part(self, p: Any, path: str) -> None:
        if not isinstance(p, dict):
            raise Invalid(f"{path}: a part is an object.")
        for key in p:
            if key not in _PART:
                raise Invalid(f'Invalid JSON payload received. Unknown name "{key}" at \'{path}\': Cannot find field.')
        if not any(k in p for k in ("text", "inlineData", "fileData", "functionCall", "functionResponse",
                                    "executableCode", "codeExecutionResult")):
            raise Invalid(f"{path}: required oneof field 'data' must have one initialized field")
        if "inlineData" in p:
            inline = p["inlineData"]
            if not inline.get("mimeType"):
                raise Invalid(f"{path}.inline_data.mime_type: mime type is required.")
            try:
                base64.b64decode(inline.get("data") or "", validate=True)
            except (binascii.Error, ValueError):
                raise Invalid(f"Invalid value at '{path}.inline_data.data' (TYPE_BYTES), Base64 decoding failed.") from None
        if "fileData" in p and not p["fileData"].get("fileUri"):
            raise Invalid(f"{path}.file_data.file_uri: file uri is required.")
        if "functionCall" in p and not isinstance(p["functionCall"].get("args", {}), dict):
            raise Invalid(f"{path}.function_call.args: must be an object.")
        if "functionResponse" in p and not isinstance(p["functionResponse"].get("response"), dict):
            raise Invalid(f"{path}.function_response.response: must be an object.")

    def _check_schema(self, schema: Any, path: str) -> None:
        if not isinstance(schema, dict):
            raise Invalid(f"{path}: a schema is an object.")
        for key, value in schema.items():
            if key not in _SCHEMA:
                raise Invalid(f'Invalid JSON payload received. Unknown name "{key}" at \'tools[0].{path}\': '
                              "Cannot find field.")
            if key == "properties":
                for name, sub in value.items():
                    self._check_schema(sub, f"{path}.properties[{name}]")
            elif key == "items":
                self._check_schema(value, f"{path}.items")
            elif key == "anyOf":
                for k, sub in enumerate(value):
                    self._check_schema(sub, f"{path}.any_of[{k}]")
        if schema.get("type") == "object" and "properties" in schema and not schema["properties"]:
            raise Invalid(f"* {path}.properties: should be non-empty for OBJECT type")

    def _check_generation(self, gen: dict[str, Any], model: str) -> None:
        for key in gen:
            if key not in _GENERATION:
                raise Invalid(f'Invalid JSON payload received. Unknown name "{key}" at \'generation_config\': '
                              "Cannot find field.")
        thinking = gen.get("thinkingConfig")
        if thinking is None:
            return
        if model.startswith(("gemini-2.0", "gemini-1")):
            raise Invalid("Thinking is not supported for this model.")
        if "thinkingLevel" in thinking and "thinkingBudget" in thinking:
            raise Invalid("You can only set only one of thinking budget and thinking level.")
        if "thinkingLevel" in thinking and not model.startswith("gemini-3"):
            raise Invalid("Thinking level is not supported for this model.")
        if thinking.get("thinkingBudget") == 0 and (model.startswith(("gemini-2.5-pro", "gemini-3"))):
            raise Invalid("Budget 0 is invalid. This model only works in thinking mode.")

    # ------------------------------------------------------------------ answers

    @staticmethod
    def _count_request(body: dict[str, Any], model: str) -> dict[str, Any]:
        """countTokens with a whole `generateContentRequest`: it excludes `contents` beside it,
        and names its model; the count then covers the system instruction and tools too."""
        if "contents" in body:
            raise Invalid("contents and generateContentRequest are mutually exclusive.")
        inner = dict(body["generateContentRequest"])
        if inner.pop("model", None) != f"models/{model}":
            raise Invalid("* CountTokensRequest.generate_content_request.model: model must match the request's.")
        return inner

    @staticmethod
    def _steering_tokens(body: dict[str, Any]) -> int:
        """What a whole-request count adds: the system instruction's words, tools at 4 bytes a token."""
        system = body.get("systemInstruction") or {}
        words = sum(len(str(p.get("text", "")).split()) for p in system.get("parts") or ())
        return words + len(orjson.dumps(body["tools"])) // 4 if body.get("tools") else words

    @staticmethod
    def _prompt_tokens(body: dict[str, Any]) -> int:
        return sum(len(str(p.get("text", "")).split()) + (258 if "inlineData" in p or "fileData" in p else 0)
                   for c in body.get("contents") or () for p in c.get("parts") or ()) + 3

    def _echo(self, body: dict[str, Any]) -> dict[str, Any]:
        text = ""
        for c in reversed(body["contents"]):
            if c.get("role") == "user":
                text = " ".join(p["text"] for p in c["parts"] if "text" in p)
                if text:
                    break
        parts: list[dict[str, Any]] = []
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        if thinking.get("includeThoughts"):
            parts.append({"text": "Let me think about that.", "thought": True})
        parts.append({"text": f"echo: {text}"})
        return dict(parts=parts, finish="STOP", usage=None, block_reason=None, delay=0.0, drop_after=None)

    def _response(self, body: dict[str, Any], model: str, turn: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        response_id = f"fakeResp{self.count:04d}"
        prompt = self._prompt_tokens(body)
        if turn["block_reason"]:
            return {"promptFeedback": {"blockReason": turn["block_reason"], "safetyRatings": []},
                    "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
                    "modelVersion": model, "responseId": response_id}
        parts = [dict(p) for p in turn["parts"]]
        if model.startswith("gemini-3"):
            target = next((p for p in parts if "functionCall" in p), None) or \
                next((p for p in reversed(parts) if not p.get("thought")), None)
            if target is not None:
                sig = sign(orjson.dumps(target).decode() + response_id)
                self.issued.add(sig)
                target["thoughtSignature"] = sig
        thoughts = sum(len(p["text"].split()) for p in parts if p.get("thought"))
        answer = sum(len(str(p.get("text", "")).split()) + (5 if "functionCall" in p else 0)
                     for p in parts if not p.get("thought"))
        usage = turn["usage"] or {"promptTokenCount": prompt, "candidatesTokenCount": answer,
                                  "totalTokenCount": prompt + answer + thoughts,
                                  "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}
        if thoughts and turn["usage"] is None:
            usage["thoughtsTokenCount"] = thoughts
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if turn["finish"]:
            candidate["finishReason"] = turn["finish"]
        candidate.update(turn.get("metadata") or {})
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                "responseId": response_id}

    @staticmethod
    def _chunks(response: dict[str, Any], turn: dict[str, Any]) -> list[dict[str, Any]]:
        """The response as the stream sends it: text word by word, calls whole, the finish
        reason and full usage on the last chunk (earlier chunks carry prompt usage only)."""
        if "candidates" not in response:
            return [response]
        meta = {k: response[k] for k in ("modelVersion", "responseId")}
        usage = response["usageMetadata"]
        early = {"promptTokenCount": usage.get("promptTokenCount", 0),
                 "totalTokenCount": usage.get("promptTokenCount", 0)}
        cand = response["candidates"][0]
        pieces: list[dict[str, Any]] = []
        for p in cand["content"]["parts"]:
            if "text" in p and len(p["text"]) > 0:
                words = _pieces(p["text"])
                for k, w in enumerate(words):
                    piece = {**p, "text": w}
                    if "thoughtSignature" in p and k != len(words) - 1:
                        piece.pop("thoughtSignature")
                    pieces.append(piece)
            else:
                pieces.append(p)
        chunks = [{"candidates": [{"content": {"parts": [piece], "role": "model"}, "index": 0}],
                   "usageMetadata": early, **meta} for piece in pieces]
        last: dict[str, Any] = {"content": {"parts": [{"text": ""}], "role": "model"}, "index": 0}
        if cand.get("finishReason"):
            last["finishReason"] = cand["finishReason"]
        last.update({k: v for k, v in cand.items() if k.endswith("Metadata")})
        chunks.append({"candidates": [last], "usageMetadata": usage, **meta})
        return chunks
