"""OpenAI realtime events the core itself sends or reads: errors, and usage from `response.done`."""

from __future__ import annotations

from typing import Any

import orjson

from relayport.ids import random_hex
from relayport.model.usage import Usage

Event = dict[str, Any]


def event_id() -> str:
    return "event_" + random_hex(8)


def error_event(message: str, code: str, type: str = "invalid_request_error",
                event_id_: str | None = None) -> bytes:
    """OpenAI's `error` server event; the SDKs surface it as an error without closing."""
    return orjson.dumps({
        "type": "error",
        "event_id": event_id(),
        "error": {"type": type, "code": code, "message": message, "param": None, "event_id": event_id_},
    })


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_of(done: Event) -> Usage | None:
    """Usage of a `response.done` event: input/output tokens with their audio, text and cached parts."""
    response = done.get("response")
    raw = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(raw, dict):
        return None
    inp = raw.get("input_token_details")
    inp = inp if isinstance(inp, dict) else {}
    out = raw.get("output_token_details")
    out = out if isinstance(out, dict) else {}
    usage = Usage(
        input_tokens=_int(raw.get("input_tokens")) or 0,
        output_tokens=_int(raw.get("output_tokens")) or 0,
        cached_tokens=_int(inp.get("cached_tokens")),
        input_audio_tokens=_int(inp.get("audio_tokens")),
        output_audio_tokens=_int(out.get("audio_tokens")),
    )
    if (image := _int(inp.get("image_tokens"))) is not None:
        usage.input_image_tokens = image
    return usage


def status_of(done: Event) -> tuple[int, str | None]:
    """(status, error code) to record for a `response.done`: a failed response is a 502."""
    response = done.get("response")
    if not isinstance(response, dict) or response.get("status") != "failed":
        return 200, None
    details = response.get("status_details")
    error = details.get("error") if isinstance(details, dict) else None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return 502, str(code or "response_failed")
