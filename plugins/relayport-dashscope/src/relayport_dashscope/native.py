"""Bodies in DashScope's native form (`input.messages` + `parameters`) sent to /v1/chat/completions.

Clients of DashScope-flavoured aggregators send them (seed 002's video example); they go to the
native generation endpoint unchanged except for the model id, and the answer goes back in the
native form, byte for byte. Streaming is asked for with the aggregators' top-level
`"stream": true` (DashScope's own switch is the `X-DashScope-SSE` header, which a client of
our OpenAI route cannot send us); the native stream then passes through as DashScope frames it
(`data:` without a space, `finish_reason` "null" until the end, usage on every event).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest
from relayport.model.usage import Usage
from relayport.provider import Deployment, Passthrough
from relayport_dashscope.hosts import native_url

TEXT_GENERATION = "/services/aigc/text-generation/generation"
MULTIMODAL_GENERATION = "/services/aigc/multimodal-generation/generation"
# Models DashScope serves only at the multimodal endpoint (vision, audio, omni, and the
# Qwen3.5+ generations, which the text endpoint refuses with a URL error).
_MULTIMODAL_MODEL = re.compile(r"vl|omni|audio|qvq|ocr|qwen3\.[5-9]|qwen[4-9]")
_MEDIA_KEYS = frozenset({"image", "video", "audio"})


def is_native_form(body: dict[str, Any]) -> bool:
    """A body in DashScope's native form: `input` and no OpenAI `messages`."""
    return "input" in body and "messages" not in body


def _has_media(messages: list[Any]) -> bool:
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and not _MEDIA_KEYS.isdisjoint(part):
                    return True
    return False


def endpoint(model: str, messages: list[Any], options: Any) -> str:
    chosen = options.get("native_endpoint") if options else None
    if chosen in ("text", "multimodal"):
        return TEXT_GENERATION if chosen == "text" else MULTIMODAL_GENERATION
    if _MULTIMODAL_MODEL.search(model.lower()) or _has_media(messages):
        return MULTIMODAL_GENERATION
    return TEXT_GENERATION


def _check(body: dict[str, Any]) -> list[Any]:
    inp = body.get("input")
    if not isinstance(inp, dict):
        raise GatewayError(400, "Invalid type for 'input': expected an object with 'messages'.",
                           param="input", code="invalid_type")
    messages = inp.get("messages")
    if messages is None and isinstance(inp.get("prompt"), str):
        return []
    if not isinstance(messages, list) or not messages:
        raise GatewayError(400, "'input.messages' must be a non-empty array of messages.",
                           param="input.messages", code="invalid_value")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise GatewayError(400, f"Invalid value for 'input.messages[{i}]': expected an object "
                                    "with a 'role'.", param=f"input.messages[{i}]", code="invalid_value")
    params = body.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise GatewayError(400, "Invalid type for 'parameters': expected an object.",
                           param="parameters", code="invalid_type")
    return messages


def usage_of(obj: dict[str, Any]) -> Usage | None:
    """Native usage (`input_tokens`/`output_tokens`, cumulative on every stream event)."""
    u = obj.get("usage")
    if not isinstance(u, dict):
        return None
    ptd = u.get("prompt_tokens_details") or {}
    otd = u.get("output_tokens_details") or {}
    itd = u.get("input_tokens_details") or {}
    return Usage(
        input_tokens=int(u.get("input_tokens") or 0),
        output_tokens=int(u.get("output_tokens") or 0),
        cached_tokens=ptd.get("cached_tokens") if isinstance(ptd, dict) else None,
        reasoning_tokens=otd.get("reasoning_tokens") if isinstance(otd, dict) else None,
        input_image_tokens=u.get("image_tokens") or (itd.get("image_tokens") if isinstance(itd, dict) else None),
        input_video_tokens=u.get("video_tokens") or (itd.get("video_tokens") if isinstance(itd, dict) else None),
        input_audio_tokens=u.get("audio_tokens") or (itd.get("audio_tokens") if isinstance(itd, dict) else None),
    )


def passthrough(dep: Deployment, body: dict[str, Any]) -> Passthrough:
    messages = _check(body)
    stream = body.pop("stream", False)
    if not isinstance(stream, bool):
        raise GatewayError(400, "Invalid type for 'stream': expected a boolean.", param="stream",
                           code="invalid_type")
    body.pop("stream_options", None)  # an OpenAI field the native API does not take
    body["model"] = dep.model
    headers = dep.auth_headers()
    headers["Content-Type"] = "application/json"
    if stream:
        headers["X-DashScope-SSE"] = "enable"
        headers["Accept"] = "text/event-stream"
    url = native_url(dep, endpoint(dep.model, messages, dep.options))
    return Passthrough(UpstreamRequest("POST", url, headers, orjson.dumps(body), stream=stream),
                       usage=usage_of)
