"""The OpenAI-compatible egress base: a vendor that speaks OpenAI chat configures it in a few lines.

A plugin registers `ProviderSpec(..., openai_compat=OpenAICompat(...))`; the core's builtin
hooks (`relayport.builtins`) then pass OpenAI clients through, translate other clients' calls,
and parse answers and streams, all shaped by the options below. A plugin overrides any single
hook by implementing it; its own implementation runs before the builtin one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson

from relayport.model.chat import ChatRequest, ChatResponse, Thinking
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.stream import Finish, StreamError, StreamEvent
from relayport.model.usage import Usage
from relayport.provider import Deployment, Passthrough
from relayport.wire import openai_chat
from relayport.wire.runs import FieldRuns
from relayport.wire.sse import DONE, SSEEvent, payloads

UsagePatch = Callable[[dict[str, Any]], bool]


@attrs.define(frozen=True)
class OpenAICompat:
    """How an OpenAI-compatible vendor differs from OpenAI.

    :param chat_path: path under the base URL.
    :param reasoning_field: the message/delta field that carries reasoning text.
    :param thinking: how a thinking request is spelled for this vendor:
        "reasoning_effort" (OpenAI: only `reasoning_effort`), "thinking_type"
        (`thinking: {type: enabled|disabled}` plus `reasoning_effort`: DeepSeek, Kimi, GLM,
        Doubao, MiMo), "enable_thinking" (`enable_thinking` + `thinking_budget`: Qwen), or
        "none" (drop it).
    :param effort_map: rewrites of `reasoning_effort` values the vendor does not take.
    :param search_field: the body field that turns on web search (e.g. "enable_search"),
        or None when the vendor has none (the request then goes without it).
    :param native_media_arrays: the vendor takes `images[]`/`videos[]`/... itself; otherwise
        they are inlined as content parts of the last user message.
    :param max_tokens_field: the name the vendor takes for the output cap (OpenAI's reasoning
        models refuse `max_tokens` and take only `max_completion_tokens`).
    :param patch_usage: rewrites the vendor's usage object into OpenAI's fields in place,
        returning True when it changed something (e.g. DeepSeek's cache-hit counts).
    :param native_form: recognises a body in the vendor's own (non-OpenAI) format sent to
        `/v1/chat/completions` (DashScope's `input` + `parameters`); such a body skips the
        OpenAI shape checks, and the plugin's `relayport_passthrough` must take it.
    """

    chat_path: str = "/chat/completions"
    reasoning_field: str = "reasoning_content"
    thinking: str = "reasoning_effort"
    effort_map: Mapping[str, str] = attrs.field(factory=dict)
    search_field: str | None = None
    native_media_arrays: bool = False
    max_tokens_field: str = "max_tokens"
    patch_usage: UsagePatch | None = None
    native_form: Callable[[dict[str, Any]], bool] | None = None


_EXTENSION_KEYS = openai_chat.EXTENSION_FIELDS


def apply_thinking(body: dict[str, Any], thinking: Thinking | None, compat: OpenAICompat) -> None:
    """Write a canonical thinking request into `body` the way the vendor spells it."""
    if thinking is None or compat.thinking == "none":
        return
    effort = compat.effort_map.get(thinking.effort, thinking.effort) if thinking.effort else None
    if compat.thinking == "reasoning_effort":
        if effort:
            body["reasoning_effort"] = effort
    elif compat.thinking == "thinking_type":
        if thinking.enabled is not None:
            body["thinking"] = {"type": "enabled" if thinking.enabled else "disabled"}
        if effort and thinking.enabled is not False:
            body["reasoning_effort"] = effort
    elif compat.thinking == "enable_thinking":
        if thinking.enabled is not None:
            body["enable_thinking"] = thinking.enabled
        if thinking.budget_tokens is not None:
            body["thinking_budget"] = thinking.budget_tokens
        if effort:
            body["reasoning_effort"] = effort


def _inline_media_parts(body: dict[str, Any]) -> None:
    """Move the media arrays into the last user message's content, as OpenAI-style parts."""
    parts: list[dict[str, Any]] = []
    for url in openai_chat.url_list(body, "images"):
        parts.append({"type": "image_url", "image_url": {"url": url}})
    for url in openai_chat.url_list(body, "videos"):
        parts.append({"type": "video_url", "video_url": {"url": url}})
    for url in openai_chat.url_list(body, "voices"):
        parts.append({"type": "audio_url", "audio_url": {"url": url}})
    for url in openai_chat.url_list(body, "file_urls"):
        parts.append({"type": "file", "file": {"file_url": url}})
    if not parts:
        return
    messages = body.get("messages") or []
    target = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    if target is None:
        target = {"role": "user", "content": []}
        messages.append(target)
    content = target.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}] if content else []
    target["content"] = list(content or []) + parts


def adapt_body(body: dict[str, Any], deployment: Deployment, compat: OpenAICompat) -> None:
    """Rewrite a client's OpenAI body for the vendor: model id, and the gateway's extension fields."""
    body["model"] = deployment.model
    if not _EXTENSION_KEYS.isdisjoint(body):
        thinking = openai_chat.decode_thinking(body)
        search = body.get("enable_search")
        if not compat.native_media_arrays:
            _inline_media_parts(body)
        for key in _EXTENSION_KEYS:
            if compat.native_media_arrays and key in openai_chat.MEDIA_FIELDS:
                continue
            body.pop(key, None)
        apply_thinking(body, thinking, compat)
        if search is not None and compat.search_field:
            body[compat.search_field] = search
    stream_options = body.get("stream_options")
    if stream_options is not None and not body.get("stream"):
        del body["stream_options"]  # OpenAI rejects stream_options without stream


def _usage_reader(compat: OpenAICompat) -> Callable[[dict[str, Any]], Usage | None]:
    def usage_of(obj: dict[str, Any]) -> Usage | None:
        usage = obj.get("usage")
        return openai_chat.decode_usage(usage) if isinstance(usage, dict) else None

    return usage_of


def _usage_patcher(patch_usage: UsagePatch) -> Callable[[dict[str, Any]], bool]:
    def patch(obj: dict[str, Any]) -> bool:
        usage = obj.get("usage")
        return isinstance(usage, dict) and patch_usage(usage)

    return patch


def passthrough(deployment: Deployment, compat: OpenAICompat, body: dict[str, Any]) -> Passthrough:
    adapt_body(body, deployment, compat)
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    request = UpstreamRequest(
        "POST", deployment.url(compat.chat_path), headers, orjson.dumps(body),
        stream=bool(body.get("stream")),
    )
    return Passthrough(
        request,
        patch=_usage_patcher(compat.patch_usage) if compat.patch_usage else None,
        usage=_usage_reader(compat),
    )


def translate_request(deployment: Deployment, compat: OpenAICompat, request: ChatRequest) -> UpstreamRequest:
    body = openai_chat.encode_request(request, deployment.model)
    if compat.max_tokens_field != "max_tokens" and "max_tokens" in body:
        body[compat.max_tokens_field] = body.pop("max_tokens")
    if request.media and compat.native_media_arrays:
        body.update(images=request.media.images, videos=request.media.videos,
                    file_urls=request.media.file_urls, voices=request.media.voices)
    apply_thinking(body, request.thinking, compat)
    if request.enable_search is not None and compat.search_field:
        body[compat.search_field] = request.enable_search
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    return UpstreamRequest("POST", deployment.url(compat.chat_path), headers, orjson.dumps(body),
                           stream=request.stream)


def parse_response(compat: OpenAICompat, response: UpstreamResponse) -> ChatResponse:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "The vendor sent a response that is not JSON.") from None
    if isinstance(obj, dict) and "error" in obj and "choices" not in obj:
        raise GatewayError(502, f"The vendor answered with an error: {obj['error']}")
    if compat.patch_usage and isinstance(obj, dict) and isinstance(obj.get("usage"), dict):
        compat.patch_usage(obj["usage"])
    return openai_chat.decode_response(obj, compat.reasoning_field)


class OpenAIStreamParser:
    """Parses an OpenAI-format chat stream (`data: {chunk}` ... `data: [DONE]`)."""

    framing = "sse"

    def __init__(self, compat: OpenAICompat) -> None:
        self._decoder = openai_chat.ChunkDecoder(compat.reasoning_field)
        self._patch = compat.patch_usage
        self._done = False
        self._finished = False
        # Runs of content (and reasoning) chunks of one read are joined before decoding.
        self._runs = (FieldRuns("content"), FieldRuns(compat.reasoning_field))

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        return self._feed_data(event.data)

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        """A whole read at once (the core's fast path, see `StreamParser`)."""
        for runs in self._runs:
            data = runs.merge(data)
        out: list[StreamEvent] = []
        try:
            for payload in payloads(data):
                out.extend(self._feed_data(payload))
                if self._done:
                    break
        except GatewayError as exc:
            # What came before the failure in the same read still reaches the client.
            self._done = True
            out.append(StreamError(exc))
        return out

    def _feed_data(self, data: bytes) -> list[StreamEvent]:
        if data == DONE:
            self._done = True
            return []
        if not data:
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "The vendor sent a stream event that is not JSON.") from None
        if not isinstance(obj, dict):
            return []
        if "error" in obj and not obj.get("choices"):
            message, _, code, _ = _error_fields(obj["error"])
            raise GatewayError(502, f"The vendor failed mid-stream: {message}", code=code)
        if self._patch and isinstance(obj.get("usage"), dict):
            self._patch(obj["usage"])
        events = self._decoder.decode(obj)
        if not self._finished:
            self._finished = any(isinstance(e, Finish) for e in events)
        return events

    def close(self) -> list[StreamEvent]:
        if not self._done and not self._finished:
            raise GatewayError(502, "The vendor closed the stream before it finished.")
        return []


def _error_fields(err: Any) -> tuple[str, str | None, str | None, str | None]:
    from relayport.vendor_errors import error_message

    message, kind, code, param = error_message({"error": err})
    return message or "unknown error", kind, code, param
