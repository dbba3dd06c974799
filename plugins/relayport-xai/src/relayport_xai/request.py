"""What a Grok chat body needs beyond the OpenAI-compatible base, on both paths.

`adapt(body, ...)` gets the OpenAI-form body the base built (the client's own body on
passthrough, the encoded canonical request on translation) and makes it Grok's, adding every
change to `adjustments` (the `x-relayport-adjustments` header); input Grok cannot take is a
`GatewayError` naming it, before any call is spent.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from relayport.model.chat import Thinking
from relayport.model.errors import GatewayError

# docs.x.ai (models, reasoning): only grok-3-mini takes `reasoning_effort`, low|high; the other
# reasoning models refuse it, and refuse presence/frequency penalties and `stop`.
_EFFORT = {"minimal": "low", "low": "low", "medium": "high", "high": "high", "xhigh": "high", "max": "high"}
_REASONING_REFUSES = ("presence_penalty", "frequency_penalty", "stop")
# Models that see images (docs.x.ai image understanding); per model `options.vision` overrides.
VISION = ("grok-4*", "grok-2-vision*", "grok-vision*")
IMAGE_TYPES = ("image/jpeg", "image/jpg", "image/png")
LIVE_SEARCH_RETIRED = ("xAI retired Live Search (`search_parameters`) on chat completions; call /v1/responses "
                       "with the `web_search` or `x_search` tool instead")


def takes_effort(model: str) -> bool:
    return model.startswith("grok-3-mini")


def reasons(model: str) -> bool:
    return model.startswith(("grok-3-mini", "grok-4", "grok-code")) and "non-reasoning" not in model


def sees_images(model: str, options: Mapping[str, Any]) -> bool:
    vision = options.get("vision")
    if isinstance(vision, bool):
        return vision
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in VISION)


def adapt(body: dict[str, Any], model: str, thinking: Thinking | None, search: bool | None,
          options: Mapping[str, Any], adjustments: list[str]) -> None:
    if "search_parameters" in body:
        raise GatewayError(410, LIVE_SEARCH_RETIRED, param="search_parameters", code="live_search_retired")
    if search:
        adjustments.append("enable_search ignored: xAI chat completions have no search "
                           "(use /v1/responses with web_search or x_search)")
    _thinking(body, model, thinking, adjustments)
    if reasons(model):
        dropped = [key for key in _REASONING_REFUSES if body.pop(key, None) is not None]
        if dropped:
            adjustments.append(f"{', '.join(dropped)} dropped: {model} is a reasoning model")
    images = sees_images(model, options)
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            _check_parts(content, model, images, f"messages[{i}].content")


def _thinking(body: dict[str, Any], model: str, thinking: Thinking | None, adjustments: list[str]) -> None:
    if thinking is None or (thinking.enabled is None and thinking.effort is None):
        return
    if thinking.budget_tokens is not None:
        adjustments.append("thinking_budget dropped: xAI has no thinking budget")
    if takes_effort(model):
        if thinking.enabled is False:
            adjustments.append(f"thinking kept on: {model} always reasons")
        elif thinking.effort:
            body["reasoning_effort"] = _EFFORT.get(thinking.effort, "high")
    elif thinking.effort or thinking.enabled is not None:
        what = "reasoning_effort" if thinking.effort else "thinking switch"
        adjustments.append(f"{what} dropped: {model} takes none")


def _check_parts(parts: list[Any], model: str, images: bool, path: str) -> None:
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{path}[{j}]"
        if kind == "text":
            continue
        if kind != "image_url":
            raise GatewayError(400, f"xAI chat takes text and images only ('{where}' is {kind}).",
                               param=where, code="unsupported_media")
        if not images:
            raise GatewayError(400, f"{model} does not take images ('{where}'): use a vision model such as grok-4.",
                               param=where, code="unsupported_media")
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url.startswith("data:"):
            mime = url[5:].split(";", 1)[0].split(",", 1)[0].lower()
            if mime not in IMAGE_TYPES:
                raise GatewayError(400, f"xAI takes JPEG and PNG images only ('{where}' is {mime or 'untyped'}).",
                                   param=where, code="unsupported_media")
