"""Anthropic clients to Claude on Bedrock: the Messages body on InvokeModel, nearly as sent.

Bedrock's Claude takes Anthropic's Messages body with `anthropic_version: "bedrock-2023-05-31"`
instead of `model` (the model is in the path) and beta flags as `anthropic_beta` in the body
instead of a header. The answer is Anthropic's message JSON as it is. A stream
(`/invoke-with-response-stream`) carries each Anthropic event as base64 `bytes` in a `chunk`
eventstream frame; `MessagesTranscoder` turns those frames back into Anthropic's SSE.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest
from relayport.model.usage import Usage
from relayport.provider import Deployment, Passthrough
from relayport.wire.eventstream import EventStreamDecoder
from relayport_bedrock import errors, vocab
from relayport_bedrock.usage import decode_anthropic

MESSAGES = "anthropic.messages"

# Anthropic's error `type` for a status, for errors inside a stream (what the SDKs raise by).
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 408: "timeout_error", 413: "request_too_large",
                    429: "rate_limit_error", 503: "overloaded_error", 529: "overloaded_error"}


def error_event(err: GatewayError) -> bytes:
    """Anthropic's `error` stream event, which the Anthropic SDKs raise."""
    kind = _ANTHROPIC_TYPES.get(err.status, "api_error")
    data = orjson.dumps({"type": "error", "error": {"type": kind, "message": err.message}})
    return b"event: error\ndata: " + data + b"\n\n"


def passthrough(deployment: Deployment, body: dict[str, Any], headers: Mapping[str, str]) -> Passthrough:
    body.pop("model", None)
    stream = bool(body.pop("stream", False))
    body["anthropic_version"] = vocab.ANTHROPIC_VERSION
    betas = [b.strip() for b in (headers.get("anthropic-beta") or "").split(",") if b.strip()]
    if betas and "anthropic_beta" not in body:
        body["anthropic_beta"] = betas
    action = "invoke-with-response-stream" if stream else "invoke"
    req_headers = {**deployment.auth_headers(), "Content-Type": "application/json"}
    # InvokeModel takes the answer's type in `Accept`; the streaming call in its own header.
    req_headers["X-Amzn-Bedrock-Accept" if stream else "Accept"] = "application/json"
    request = UpstreamRequest("POST", deployment.url(vocab.path(deployment.model, action)), req_headers,
                              orjson.dumps(body), stream=stream)
    return Passthrough(request, usage=usage_reader(), stream_error=error_event,
                       transcode=MessagesTranscoder if stream else None)


def usage_reader() -> Any:
    """Usage from the message body, or from the stream's message_start and message_delta events
    (the delta's counts are cumulative and name only what changed)."""
    seen: dict[str, Any] = {}

    def read(obj: dict[str, Any]) -> Usage | None:
        kind = obj.get("type")
        if kind == "message_start":
            usage = (obj.get("message") or {}).get("usage")
            seen.clear()
        elif kind in ("message", "message_delta"):
            usage = obj.get("usage")
        else:
            return None
        if not isinstance(usage, dict):
            return None
        seen.update({k: v for k, v in usage.items() if v is not None})
        return decode_anthropic(seen)

    return read


class MessagesTranscoder:
    """InvokeModelWithResponseStream frames -> Anthropic SSE (`event: <type>\\ndata: <json>`)."""

    def __init__(self) -> None:
        self._frames = EventStreamDecoder(vocab.PROVIDER)
        self._stopped = False

    def feed(self, data: bytes) -> bytes:
        out = []
        for frame in self._frames.feed(data):
            if frame.message_type != "event":
                raise errors.frame_error(frame.name, frame.payload)
            if frame.name != "chunk":
                continue
            try:
                event = base64.b64decode(orjson.loads(frame.payload)["bytes"], validate=True)
                kind = orjson.loads(event)["type"]
            except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error):
                raise GatewayError(502, "bedrock: a stream chunk is not an Anthropic event.",
                                   code="upstream_malformed_stream") from None
            if b"\n" in event:  # one SSE data line: re-encode JSON that came pretty-printed
                event = orjson.dumps(orjson.loads(event))
            self._stopped = self._stopped or kind == "message_stop"
            out.append(b"event: " + str(kind).encode() + b"\ndata: " + event + b"\n\n")
        return b"".join(out)

    def close(self) -> bytes:
        if self._frames.pending:
            raise GatewayError(502, "bedrock: the vendor's stream broke off mid-frame.",
                               code="upstream_malformed_stream")
        if not self._stopped:
            raise GatewayError(502, "bedrock: the vendor's stream ended before the model finished.",
                               code="upstream_malformed_stream")
        return b""
