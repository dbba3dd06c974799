"""Images behind `/v1/images/generations`: Imagen (`:predict`) and Gemini's own image output
(`:generateContent` with `responseModalities: ["IMAGE"]`). Both answer at once, with base64.

Imagen: `{instances: [{prompt}], parameters: {sampleCount, aspectRatio, negativePrompt,
personGeneration, imageSize}}` -> `{predictions: [{bytesBase64Encoded, mimeType}]}` (filtered
images are left out, or carry `raiFilteredReason`). Gemini image models take the prompt and any
input images as parts and answer image parts as `inlineData`.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model import (
    GatewayError,
    MediaOutput,
    MediaRequest,
    SubmittedTask,
    TaskStatus,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
    Usage,
)
from relayport.provider import Deployment
from relayport_gemini.egress import model_path, request_headers
from relayport_gemini.generation import RATIOS, aspect_ratio, image_object

IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
_NOT_GOOGLE = frozenset({"operation", "watermark", "style", "mask", "quality"})
_SIZES = {"1k": "1K", "2k": "2K", "4k": "4K"}


def is_imagen(dep: Deployment) -> bool:
    return dep.model.removeprefix("models/").startswith("imagen-")


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    adjustments: list[str] = []
    extras = {k: v for k, v in request.extra.items() if k not in _NOT_GOOGLE}
    image_size = _SIZES.get((request.resolution or "").lower())
    if is_imagen(dep):
        if request.media.images:
            raise GatewayError(400, "gemini: Imagen on the Gemini API makes images from text only; "
                                    "use a Gemini image model to edit.", param="image", code="unsupported_operation")
        params: dict[str, Any] = {**extras, "sampleCount": request.n or 1}
        ratio = request.aspect_ratio or aspect_ratio(request.size, IMAGEN_RATIOS, adjustments)
        if ratio:
            params["aspectRatio"] = ratio
        if request.negative_prompt:
            params["negativePrompt"] = request.negative_prompt
        if image_size:
            params["imageSize"] = image_size
        body: dict[str, Any] = {"instances": [{"prompt": request.prompt or ""}], "parameters": params}
        return UpstreamRequest("POST", model_path(dep, "predict"), request_headers(dep), orjson.dumps(body),
                               adjustments=adjustments)
    parts: list[dict[str, Any]] = [{"text": request.prompt or ""}]
    for i, url in enumerate(request.media.images):
        blob = image_object(url, f"images[{i}]", request.fetched)
        parts.append({"inlineData": {"mimeType": blob["mimeType"], "data": blob["bytesBase64Encoded"]}})
    image_config: dict[str, Any] = {}
    ratio = request.aspect_ratio or aspect_ratio(request.size, RATIOS, adjustments)
    if ratio:
        image_config["aspectRatio"] = ratio
    if image_size:
        image_config["imageSize"] = image_size
    config: dict[str, Any] = {**extras, "responseModalities": ["IMAGE"]}
    if image_config:
        config["imageConfig"] = image_config
    if request.n is not None and request.n > 1:
        adjustments.append(f"n={request.n} reduced to 1: Gemini image models answer one image")
    body = {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}
    return UpstreamRequest("POST", model_path(dep, "generateContent"), request_headers(dep), orjson.dumps(body),
                           adjustments=adjustments)


def parse_submit(dep: Deployment, response: UpstreamResponse) -> SubmittedTask:
    obj = response.json_object("gemini")
    outputs: list[MediaOutput] = []
    usage = None
    if is_imagen(dep):
        reasons = []
        for p in obj.get("predictions") or ():
            if p.get("bytesBase64Encoded"):
                outputs.append(MediaOutput(b64=p["bytesBase64Encoded"], media_type=p.get("mimeType") or "image/png"))
            elif p.get("raiFilteredReason"):
                reasons.append(p["raiFilteredReason"])
        why = reasons[0] if reasons else "every image was removed by Google's safety filters"
    else:
        candidates = obj.get("candidates") or [{}]
        for part in ((candidates[0].get("content") or {}).get("parts") or ()):
            blob = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(blob, dict) and blob.get("data"):
                outputs.append(MediaOutput(b64=blob["data"], media_type=blob.get("mimeType") or "image/png"))
        meta = obj.get("usageMetadata") or {}
        usage = Usage(input_tokens=int(meta.get("promptTokenCount") or 0),
                      output_tokens=int(meta.get("candidatesTokenCount") or 0)) if meta else None
        block = (obj.get("promptFeedback") or {}).get("blockReason")
        why = f"no image: {block or candidates[0].get('finishReason') or 'the model answered text only'}"
    if not outputs:
        raise GatewayError(400, f"gemini: {why}.", code="content_filter")
    return SubmittedTask(None, TaskUpdate(TaskStatus.SUCCEEDED, outputs=outputs, usage=usage))
