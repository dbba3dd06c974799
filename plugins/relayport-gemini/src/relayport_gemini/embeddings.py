"""Embeddings on the Gemini API: `:embedContent` for one text, `:batchEmbedContents` for several.

`{content: {parts: [{text}]}, outputDimensionality, taskType, title}` -> `{embedding: {values}}`;
the batch takes `{requests: [{model: "models/<id>", content, ...}]}` -> `{embeddings: [{values}]}`.
OpenAI's `dimensions` is `outputDimensionality`; `task_type` and `title` pass through.
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
from relayport_gemini.egress import model_path, request_headers


def _texts(request: EmbeddingRequest) -> list[str]:
    value = request.input
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise GatewayError(400, "gemini: 'input' must be text (a string or strings); token arrays are not taken.",
                           param="input", code="invalid_value")
    return texts


def _one(request: EmbeddingRequest, text: str) -> dict[str, Any]:
    item: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    if request.dimensions is not None:
        item["outputDimensionality"] = request.dimensions
    for ours, theirs in (("task_type", "taskType"), ("title", "title")):
        if ours in request.extra:
            item[theirs] = request.extra[ours]
    return item


def build(dep: Deployment, request: EmbeddingRequest) -> UpstreamRequest:
    texts = _texts(request)
    if isinstance(request.input, str):
        return UpstreamRequest("POST", model_path(dep, "embedContent"), request_headers(dep),
                               orjson.dumps(_one(request, texts[0])))
    name = "models/" + dep.model.removeprefix("models/")
    body = {"requests": [{"model": name, **_one(request, t)} for t in texts]}
    return UpstreamRequest("POST", model_path(dep, "batchEmbedContents"), request_headers(dep), orjson.dumps(body))


def parse(dep: Deployment, request: EmbeddingRequest, response: UpstreamResponse) -> EmbeddingResponse:
    try:
        obj = orjson.loads(response.body)
        items = [obj["embedding"]] if "embedding" in obj else obj["embeddings"]
        vectors: list[list[float] | str] = [list(e["values"]) for e in items]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise GatewayError(502, "gemini: the embeddings answer could not be read.",
                           code="bad_upstream_response") from None
    tokens = int((obj.get("usageMetadata") or {}).get("promptTokenCount") or 0)
    return EmbeddingResponse(vectors, dep.model, Usage(input_tokens=tokens))
