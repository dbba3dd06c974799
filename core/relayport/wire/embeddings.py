"""OpenAI's embeddings format: the client's request, the answer, and the OpenAI-compatible egress."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import EmbeddingRequest, EmbeddingResponse
from relayport.model.usage import Usage
from relayport.provider import Deployment
from relayport.wire.fields import get, invalid

FORMATS = ("float", "base64")


def decode_request(body: dict[str, Any]) -> tuple[EmbeddingRequest, str]:
    """The canonical request and the `encoding_format` the client wants back."""
    model = get(body, "model", str, "model", required=True)
    if "input" not in body or body["input"] in (None, "", []):
        raise GatewayError(400, "Missing required parameter: 'input'.", param="input",
                           code="missing_required_parameter")
    value = body["input"]
    if not isinstance(value, (str, list)):
        raise invalid("input", "a string, an array of strings or an array of token arrays")
    fmt = get(body, "encoding_format", str, "encoding_format") or "float"
    if fmt not in FORMATS:
        raise GatewayError(400, f"Invalid value for 'encoding_format': {fmt!r}; use 'float' or 'base64'.",
                           param="encoding_format", code="invalid_value")
    dimensions = get(body, "dimensions", int, "dimensions")
    if dimensions is not None and dimensions < 1:
        raise GatewayError(400, "'dimensions' must be at least 1.", param="dimensions", code="invalid_value")
    extra = {k: v for k, v in body.items() if k not in ("model", "input", "encoding_format", "dimensions", "user")}
    return EmbeddingRequest(model, value, dimensions, get(body, "user", str, "user"), extra), fmt


def to_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def to_floats(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def encode_response(result: EmbeddingResponse, fmt: str, model: str) -> dict[str, Any]:
    data = []
    for i, vec in enumerate(result.data):
        if fmt == "base64":
            value: Any = vec if isinstance(vec, str) else to_base64(vec)
        else:
            value = to_floats(vec) if isinstance(vec, str) else vec
        data.append({"object": "embedding", "index": i, "embedding": value})
    u = result.usage
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": u.input_tokens, "total_tokens": u.total_tokens}}


# ---------------------------------------------------------------- OpenAI-compatible vendors


def compat_request(deployment: Deployment, request: EmbeddingRequest) -> UpstreamRequest:
    """Base64 is asked for whatever the client wants: a quarter of the bytes of float JSON,
    and the surface converts it. Vendors that ignore the field send floats, which works too."""
    body: dict[str, Any] = {**request.extra, "model": deployment.model, "input": request.input,
                            "encoding_format": "base64"}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if request.user is not None:
        body["user"] = request.user
    headers = {**deployment.auth_headers(), "Content-Type": "application/json"}
    return UpstreamRequest("POST", deployment.url("/embeddings"), headers, orjson.dumps(body))


def compat_parse(response: UpstreamResponse) -> EmbeddingResponse:
    try:
        obj = orjson.loads(response.body)
        items = sorted(obj["data"], key=lambda d: d.get("index", 0))
        vectors = [d["embedding"] for d in items]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise GatewayError(502, "The vendor's embeddings answer could not be read.", code="bad_upstream_response") from None
    usage = obj.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    total = int(usage.get("total_tokens") or prompt)
    return EmbeddingResponse(vectors, str(obj.get("model") or ""), Usage(input_tokens=prompt,
                                                                         output_tokens=max(0, total - prompt)))
