"""text-embedding-v1...v4 through DashScope's OpenAI-compatible `/embeddings`.

DashScope answers floats only (`encoding_format` "float"), embeds text (no token arrays), and
takes at most 10 inputs per call on v3/v4 (25 on v1/v2): a larger batch is refused here, before
anything is sent, with the limit named. The surface converts the floats to base64 when asked.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model import EmbeddingRequest, GatewayError, UpstreamRequest
from relayport.provider import Deployment
from relayport_dashscope.hosts import compat_url


def max_inputs(model: str) -> int:
    return 25 if model.endswith(("-v1", "-v2")) else 10


def request(dep: Deployment, req: EmbeddingRequest) -> UpstreamRequest:
    texts = [req.input] if isinstance(req.input, str) else req.input
    if not all(isinstance(t, str) for t in texts):
        raise GatewayError(400, "dashscope embeds text; token arrays are not accepted.", param="input",
                           code="invalid_value")
    limit = max_inputs(dep.model)
    if len(texts) > limit:
        raise GatewayError(400, f"{dep.model} takes at most {limit} inputs per call; {len(texts)} were sent.",
                           param="input", code="too_many_inputs")
    body: dict[str, Any] = {**req.extra, "model": dep.model, "input": req.input, "encoding_format": "float"}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    headers = {**dep.auth_headers(), "Content-Type": "application/json"}
    return UpstreamRequest("POST", compat_url(dep, "/embeddings"), headers, orjson.dumps(body))
