"""Mistral's error bodies -> the gateway's error.

Mistral answers validation failures with 422 and a pydantic-style list, either inside its
envelope (`{"object": "error", "message": {"detail": [{type, loc, msg, input}]}, "type":
"invalid_request_error", ...}`) or bare (`{"detail": [...]}`); other errors carry `message` as a
string (`{"object": "error", "message", "type", "param", "code"}`), and the edge's 401/429 only
`{"message": ...}`. The status is kept (OpenAI SDKs raise `UnprocessableEntityError` for 422);
the list becomes one readable message, its first field the `param`.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.errors import GatewayError, error_type_for
from relayport.model.http import UpstreamResponse
from relayport.vendor_errors import map_error


def _details(obj: Any) -> list[dict[str, Any]] | None:
    if not isinstance(obj, dict):
        return None
    message = obj.get("message")
    detail = message.get("detail") if isinstance(message, dict) else obj.get("detail")
    if isinstance(detail, list) and all(isinstance(d, dict) for d in detail):
        return detail
    return None


def _where(loc: Any) -> str:
    parts = [str(p) for p in loc if p != "body"] if isinstance(loc, list) else []
    return ".".join(parts)


def map_mistral_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        obj = None
    details = _details(obj)
    if details is None:
        return map_error(response, vendor)
    err = map_error(UpstreamResponse(response.status, response.headers, b"{}"), vendor)
    lines = []
    for d in details:
        msg = d.get("msg")
        text = msg if isinstance(msg, str) else "; ".join(map(str, msg)) if isinstance(msg, list) else str(msg)
        where = _where(d.get("loc"))
        lines.append(f"{where}: {text}" if where else text)
    err.message = f"{vendor}: invalid request: " + "; ".join(lines)
    err.type = "invalid_request_error" if err.status < 500 else error_type_for(err.status)
    err.param = _where(details[0].get("loc")) or None
    kind = details[0].get("type")
    err.code = kind if isinstance(kind, str) else err.code
    err.retryable = False
    return err
