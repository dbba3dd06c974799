"""A fake Bedrock runtime on loopback, for tests (this package's and other plugins').

It checks what the real service checks and gateways get wrong: the SigV4 signature (recomputed
with botocore from the bytes that arrived, path as sent; a wrong secret is 403
`InvalidSignatureException`, an unknown key id 403 `UnrecognizedClientException`) or a Bedrock
API key as a Bearer token; Converse bodies (known fields only, roles alternating from a user
turn, one member per content block); Claude's InvokeModel body (`anthropic_version`, no
`model`). It answers like the service: Converse JSON, Anthropic message JSON, and streams as
`application/vnd.amazon.eventstream` frames that THIS MODULE ENCODES ITSELF from the documented
format (prelude: total length, headers length, CRC32 of both; typed headers; payload; CRC32 of
the whole message), so the plugin's decoder (botocore's) is checked against an independent
encoder. Errors carry `x-amzn-ErrorType` and `{"message": ...}`; failures inside a stream are
exception frames.

    fake = FakeBedrock(access_key="AKID...", secret_key="...").start()
    fake.queue_text("hi", finish_reason="length")
"""

from __future__ import annotations

import base64
import re
import secrets
import struct
import zlib
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest, Reply

EVENTSTREAM = "application/vnd.amazon.eventstream"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")
_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke|invoke-with-response-stream)$")
_CONVERSE_FIELDS = frozenset({"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
                              "additionalModelRequestFields", "promptVariables",
                              "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig"})
_BLOCK_MEMBERS = frozenset({"text", "image", "document", "video", "toolUse", "toolResult", "guardContent",
                            "cachePoint", "reasoningContent"})
_INFERENCE = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
_KIND_BY_STATUS = {400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
                   404: "ResourceNotFoundException", 408: "ModelTimeoutException", 429: "ThrottlingException",
                   500: "InternalServerException", 503: "ServiceUnavailableException"}
# OpenAI's finish reasons as Converse's and Claude's stop reasons.
_CONVERSE_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "content_filtered",
                  "tool_calls": "tool_use"}
_CLAUDE_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal", "tool_calls": "tool_use"}


# ------------------------------------------------------------------ the frame format, written here


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length (1 byte), name, value type 7 (string), value length (2 bytes), value
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", 7, len(raw_value)) + raw_value


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One eventstream message, built from the documented layout with zlib's CRC32."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack("!I", zlib.crc32(message))


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    # The service pads payloads with a "p" field of varying length (against size analysis).
    body = orjson.dumps({**payload, "p": "abcdefghij"[: secrets.randbelow(10) + 1]})
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, body)


def exception_frame(kind: str, message: str) -> bytes:
    """An in-stream failure; `kind` as the stream member is named (`modelStreamErrorException`)."""
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                 orjson.dumps({"message": message}))


def chunk_frame(event: dict[str, Any]) -> bytes:
    """InvokeModelWithResponseStream: an Anthropic event as base64 `bytes` in a `chunk`."""
    return event_frame("chunk", {"bytes": base64.b64encode(orjson.dumps(event)).decode()})


def bedrock_error(status: int, message: str, kind: str | None = None) -> Reply:
    kind = kind or _KIND_BY_STATUS.get(status, "InternalServerException")
    return Reply.json({"message": message}, status, headers={
        "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": secrets.token_hex(16)})


class Invalid(Exception):
    """What the real service answers 400 ValidationException to."""


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0]


class FakeBedrock(FakeUpstream):
    """Without scripted turns it answers "echo: <last user text>"."""

    def __init__(self, api_key: str | None = "bedrock-api-key-fake", access_key: str = "AKIDFAKEBEDROCK",
                 secret_key: str = "fake/secret/key/EXAMPLE", region: str = "us-east-1") -> None:
        super().__init__(self._answer)
        self.api_key = api_key
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.turns: deque[dict[str, Any]] = deque()
        self.signed: list[str] = []  # the access key of every request whose signature checked out

    @property
    def base_url(self) -> str:
        return self.url

    # ------------------------------------------------------------------ scripting

    def queue_text(self, text: str = "", *, reasoning: str | None = None,
                   tool_calls: list[dict[str, Any]] | None = None, finish_reason: str | None = None,
                   drop_after: int | None = None, error_after: int | None = None,
                   usage: dict[str, int] | None = None, error_kind: str = "modelStreamErrorException") -> None:
        """The next answer, in OpenAI's terms: `finish_reason` rendered as Bedrock's stop reason,
        `tool_calls` as toolUse blocks, `drop_after=n` closes the stream after n frames,
        `error_after=n` sends an exception frame (`error_kind`) after n frames."""
        calls = [{"id": c.get("id") or "tooluse_" + secrets.token_hex(8), "name": c["function"]["name"],
                  "input": orjson.loads(c["function"].get("arguments") or "{}")} for c in tool_calls or ()]
        self.turns.append(dict(text=text, reasoning=reasoning, calls=calls,
                               finish=finish_reason or ("tool_calls" if calls else "stop"),
                               drop_after=drop_after, error_after=error_after, usage=usage, error_kind=error_kind))

    def error_reply(self, status: int, message: str) -> Reply:
        return bedrock_error(status, message)

    # ------------------------------------------------------------------ serving

    def _authorized(self, request: web.Request, rec: RecordedRequest) -> Reply | None:
        auth = rec.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if self.api_key is not None and auth == f"Bearer {self.api_key}":
                return None
            return bedrock_error(403, "Invalid API Key format: Must start with pre-defined prefix",
                                 "UnrecognizedClientException")
        m = _AUTH.fullmatch(auth)
        if m is None:
            return bedrock_error(403, "Missing Authentication Token", "UnrecognizedClientException")
        access, _, region, service, signed, signature = m.groups()
        if access != self.access_key:
            return bedrock_error(403, "The security token included in the request is invalid.",
                                 "UnrecognizedClientException")
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        # The path exactly as it came over the wire: SigV4 signs the encoded path.
        url = f"http://{rec.headers.get('host', '')}{request.raw_path}"
        aws = AWSRequest(method=request.method, url=url, data=rec.body,
                         headers={h: rec.headers.get(h, "") for h in signed.split(";")})
        aws.context["timestamp"] = rec.headers.get("x-amz-date", "")
        sig = SigV4Auth(Credentials(access, self.secret_key, rec.headers.get("x-amz-security-token")),
                        service, region)
        expected = sig.signature(sig.string_to_sign(aws, sig.canonical_request(aws)), aws)
        if expected != signature or service != "bedrock" or region != self.region:
            return bedrock_error(403, "The request signature we calculated does not match the signature you "
                                 "provided. Check your AWS Secret Access Key and signing method.",
                                 "InvalidSignatureException")
        self.signed.append(access)
        return None

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        refused = self._authorized(request, rec)
        if refused is not None:
            return await self.play(request, refused)
        m = _PATH.match(request.raw_path.split("?", 1)[0])
        if request.method != "POST" or m is None:
            return await self.play(request, bedrock_error(404, "Not Found", "ResourceNotFoundException"))
        model = m.group(1).replace("%3A", ":").replace("%2F", "/")
        action = m.group(2)
        try:
            body = orjson.loads(rec.body)
            if not isinstance(body, dict):
                raise Invalid("The request body must be a JSON object.")
            if action.startswith("converse"):
                prompt = self._check_converse(body)
            else:
                prompt = self._check_claude(body, model)
        except (orjson.JSONDecodeError, Invalid) as exc:
            return await self.play(request, bedrock_error(400, str(exc) or "Malformed input request"))
        turn = self.turns.popleft() if self.turns else dict(
            text="echo: " + prompt, reasoning=None, calls=[], finish="stop", drop_after=None,
            error_after=None, usage=None, error_kind="modelStreamErrorException")
        usage = turn["usage"] or {"inputTokens": 11, "outputTokens": max(1, len(_pieces(turn["text"])))}
        if action == "converse":
            return await self.play(request, Reply.json(self._converse(turn, usage)))
        if action == "invoke":
            return await self.play(request, Reply.json(self._message(turn, usage, model)))
        frames = self._converse_frames(turn, usage) if action == "converse-stream" else \
            self._claude_frames(turn, usage, model)
        error = None
        if turn["error_after"] is not None:
            frames = frames[: turn["error_after"]]
            error = exception_frame(turn["error_kind"], "The model's stream failed: overloaded.")
        reply = Reply(events=frames + ([error] if error else []), drop_after=turn["drop_after"],
                      headers={"Content-Type": EVENTSTREAM, "x-amzn-RequestId": secrets.token_hex(16)})
        return await self.play(request, reply)

    # ------------------------------------------------------------------ request checks

    def _check_converse(self, body: dict[str, Any]) -> str:
        unknown = set(body) - _CONVERSE_FIELDS
        if unknown:
            raise Invalid(f"Unknown field(s): {sorted(unknown)}")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Invalid("The messages field is required and must not be empty.")
        if set(body.get("inferenceConfig") or {}) - _INFERENCE:
            raise Invalid("Unknown inferenceConfig field.")
        prompt = ""
        for i, msg in enumerate(messages):
            want = "user" if i % 2 == 0 else "assistant"
            if msg.get("role") != want:
                raise Invalid("A conversation must start with a user message and alternate between user "
                              "and assistant roles.")
            for block in msg.get("content") or ():
                if len(block) != 1 or not set(block) <= _BLOCK_MEMBERS:
                    raise Invalid(f"Invalid content block: {sorted(block)}")
                if "text" in block and want == "user":
                    prompt = block["text"]
        for s in body.get("system") or ():
            if set(s) - {"text", "guardContent", "cachePoint"}:
                raise Invalid("Invalid system block.")
        return prompt

    def _check_claude(self, body: dict[str, Any], model: str) -> str:
        if "anthropic.claude" not in model:
            raise Invalid("This model does not take Anthropic's Messages format.")
        if body.get("anthropic_version") != "bedrock-2023-05-31":
            raise Invalid("anthropic_version: bedrock-2023-05-31 is required")
        for key in ("model", "stream"):
            if key in body:
                raise Invalid(f"extraneous key [{key}] is not permitted")
        if not isinstance(body.get("max_tokens"), int):
            raise Invalid("max_tokens: field required")
        prompt = ""
        for msg in body.get("messages") or ():
            content = msg.get("content")
            if msg.get("role") == "user":
                prompt = content if isinstance(content, str) else next(
                    (b.get("text", "") for b in content if b.get("type") == "text"), prompt)
        return prompt

    # ------------------------------------------------------------------ Converse answers

    def _converse(self, turn: dict[str, Any], usage: dict[str, int]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if turn["reasoning"]:
            content.append({"reasoningContent": {"reasoningText": {"text": turn["reasoning"],
                                                                   "signature": "sig-" + secrets.token_hex(8)}}})
        if turn["text"]:
            content.append({"text": turn["text"]})
        content.extend({"toolUse": {"toolUseId": c["id"], "name": c["name"], "input": c["input"]}}
                       for c in turn["calls"])
        return {"output": {"message": {"role": "assistant", "content": content}},
                "stopReason": _CONVERSE_STOP.get(turn["finish"], turn["finish"]),
                "usage": {**usage, "totalTokens": sum(usage.values())}, "metrics": {"latencyMs": 42}}

    def _converse_frames(self, turn: dict[str, Any], usage: dict[str, int]) -> list[bytes]:
        frames = [event_frame("messageStart", {"role": "assistant"})]
        index = 0
        if turn["reasoning"]:
            for piece in _pieces(turn["reasoning"]):
                frames.append(event_frame("contentBlockDelta", {
                    "contentBlockIndex": index, "delta": {"reasoningContent": {"text": piece}}}))
            frames.append(event_frame("contentBlockDelta", {
                "contentBlockIndex": index, "delta": {"reasoningContent": {"signature": "sig-stream"}}}))
            frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        if turn["text"]:
            for piece in _pieces(turn["text"]):
                frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index,
                                                                "delta": {"text": piece}}))
            frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        for call in turn["calls"]:
            frames.append(event_frame("contentBlockStart", {
                "contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call["id"], "name": call["name"]}}}))
            args = orjson.dumps(call["input"]).decode()
            half = len(args) // 2
            for piece in (args[:half], args[half:]):
                frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index,
                                                                "delta": {"toolUse": {"input": piece}}}))
            frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        frames.append(event_frame("messageStop", {"stopReason": _CONVERSE_STOP.get(turn["finish"], turn["finish"])}))
        frames.append(event_frame("metadata", {"usage": {**usage, "totalTokens": sum(usage.values())},
                                               "metrics": {"latencyMs": 42}}))
        return frames

    # ------------------------------------------------------------------ Claude's own format

    def _claude_usage(self, usage: dict[str, int]) -> dict[str, int]:
        return {"input_tokens": usage.get("inputTokens", 0), "output_tokens": usage.get("outputTokens", 0),
                "cache_read_input_tokens": usage.get("cacheReadInputTokens", 0),
                "cache_creation_input_tokens": usage.get("cacheWriteInputTokens", 0)}

    def _message(self, turn: dict[str, Any], usage: dict[str, int], model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if turn["reasoning"]:
            content.append({"type": "thinking", "thinking": turn["reasoning"], "signature": "sig-claude"})
        if turn["text"]:
            content.append({"type": "text", "text": turn["text"]})
        content.extend({"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["input"]}
                       for c in turn["calls"])
        return {"id": "msg_bdrk_" + secrets.token_hex(8), "type": "message", "role": "assistant",
                "model": model.split(".", 2)[-1] if model.count(".") >= 2 else model, "content": content,
                "stop_reason": _CLAUDE_STOP.get(turn["finish"], turn["finish"]), "stop_sequence": None,
                "usage": self._claude_usage(usage)}

    def _claude_frames(self, turn: dict[str, Any], usage: dict[str, int], model: str) -> list[bytes]:
        message = self._message(turn, usage, model)
        claude_usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None,
                 "usage": {**claude_usage, "output_tokens": 1}}
        frames = [chunk_frame({"type": "message_start", "message": start})]
        for i, block in enumerate(message["content"]):
            if block["type"] == "text":
                frames.append(chunk_frame({"type": "content_block_start", "index": i,
                                           "content_block": {"type": "text", "text": ""}}))
                frames.extend(chunk_frame({"type": "content_block_delta", "index": i,
                                           "delta": {"type": "text_delta", "text": p}})
                              for p in _pieces(block["text"]))
            elif block["type"] == "thinking":
                frames.append(chunk_frame({"type": "content_block_start", "index": i,
                                           "content_block": {"type": "thinking", "thinking": ""}}))
                frames.append(chunk_frame({"type": "content_block_delta", "index": i,
                                           "delta": {"type": "thinking_delta", "thinking": block["thinking"]}}))
                frames.append(chunk_frame({"type": "content_block_delta", "index": i,
                                           "delta": {"type": "signature_delta", "signature": block["signature"]}}))
            else:
                frames.append(chunk_frame({"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
                frames.append(chunk_frame({"type": "content_block_delta", "index": i, "delta": {
                    "type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()}}))
            frames.append(chunk_frame({"type": "content_block_stop", "index": i}))
        frames.append(chunk_frame({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"],
                                                                      "stop_sequence": None},
                                   "usage": {"output_tokens": claude_usage["output_tokens"]}}))
        frames.append(chunk_frame({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": claude_usage["input_tokens"], "outputTokenCount": claude_usage["output_tokens"],
            "invocationLatency": 42, "firstByteLatency": 7}}))
        return frames
