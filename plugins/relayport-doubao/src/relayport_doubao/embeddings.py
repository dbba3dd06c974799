"""Ark's multimodal embeddings (`doubao-embedding-vision-*`): `POST /embeddings/multimodal`.

Text models use Ark's `/embeddings`, which is OpenAI's (the core's default serves them). The
vision models embed one input made of several items (`{type: text | image_url | video_url}`)
into ONE vector (`data` is an object, not a list; Ark SDK `MultimodalEmbeddingResponse`), so a
client sends one string, or Ark's own item list as `input`; several strings would silently
become one vector, and are refused instead.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model import (
    EmbeddingRequest,
    EmbeddingResponse,
    GatewayError,
    UpstreamRequest,
    UpstreamResponse,
    Usage,
)
from relayport.provider import Deployment

_ITEM_TYPES = frozenset({"text", "image_url", "video_url"})


def is_multimodal(dep: Deployment) -> bool:
    return "embedding-vision" in dep.model


def _items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return [{"type": "text", "text": value[0]}]
    if isinstance(value, list) and value and all(isinstance(v, dict) and v.get("type") in _ITEM_TYPES for v in value):
        return value
    raise GatewayError(400, "doubao: multimodal embedding models make one vector per call: send one string, or "
                            "Ark's item list ([{\"type\": \"text\" | \"image_url\" | \"video_url\", ...}]).",
                       param="input", code="invalid_value")


def request(dep: Deployment, req: EmbeddingRequest) -> UpstreamRequest:
    body: dict[str, Any] = {**req.extra, "model": dep.model, "input": _items(req.input), "encoding_format": "float"}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    headers = {**dep.auth_headers(), "Content-Type": "application/json"}
    return UpstreamRequest("POST", dep.url("/embeddings/multimodal"), headers, orjson.dumps(body))


def parse(response: UpstreamResponse) -> EmbeddingResponse:
    try:
        obj = orjson.loads(response.body)
        vector = list(obj["data"]["embedding"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise GatewayError(502, "doubao: the embeddings answer could not be read.",
                           code="bad_upstream_response") from None
    usage = obj.get("usage") or {}
    return EmbeddingResponse([vector], str(obj.get("model") or ""), Usage(input_tokens=int(usage.get("prompt_tokens") or 0)))
