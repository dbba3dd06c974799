"""What a GLM chat body needs beyond the OpenAI-compatible base: run on both paths.

`adapt(body, ...)` gets the OpenAI-form body the base built for the vendor (the client's own
body on passthrough, the encoded canonical request on translation) and makes it GLM's:
media parts in GLM's spelling and only for the models that see them, `enable_search` as the
`web_search` tool, `reasoning_effort` (which GLM does not document) folded into `thinking`,
and `tool_stream` so streamed tool calls arrive in pieces as OpenAI clients expect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from relayport.model.errors import GatewayError

# GLM's vision models carry a "v" right after the version: glm-4v, glm-4v-plus, glm-4.1v-thinking,
# glm-4.5v, glm-4.6v, glm-5v-turbo. They take images, videos and files by URL; the others text only.
_VISION = re.compile(r"^glm-\d+(?:\.\d+)?v(?:$|-)")
# Models that stream tool-call arguments with `tool_stream` (GLM-4.6 onwards).
_TOOL_STREAM = re.compile(r"^glm-(?:4\.[6-9]|[5-9])")

_MEDIUM = {"image_url": "images", "video_url": "videos", "video": "videos", "file": "files",
           "file_url": "files", "input_audio": "audio", "audio_url": "audio"}


def is_vision(model: str) -> bool:
    return bool(_VISION.match(model))


def adapt(body: dict[str, Any], model: str, search: bool, budget: Any, options: Mapping[str, Any],
          adjustments: list[str]) -> None:
    """Make an OpenAI-form body GLM's, in place; raise `GatewayError` for what GLM cannot take."""
    vision = options.get("vision")
    if not isinstance(vision, bool):
        vision = is_vision(model)
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            _adapt_parts(content, model, vision, f"messages[{i}].content")
    _tool_choice(body, adjustments)
    if search:
        tools = body.setdefault("tools", [])
        if not any(isinstance(t, dict) and t.get("type") == "web_search" for t in tools):
            spec: dict[str, Any] = {"enable": True, "search_result": True}
            engine = options.get("search_engine")
            if isinstance(engine, str):
                spec["search_engine"] = engine
            tools.append({"type": "web_search", "web_search": spec})
    # By now the base has folded every thinking spelling into `thinking` and `reasoning_effort`
    # ("none" already became thinking disabled); an effort alone means "think".
    if body.pop("reasoning_effort", None) is not None:
        body.setdefault("thinking", {"type": "enabled"})
        adjustments.append("reasoning_effort sent as thinking.type")
    if budget is not None:
        adjustments.append("thinking_budget dropped: GLM has no thinking budget")
    if body.get("stream"):
        if body.get("tools") and "tool_stream" not in body and _TOOL_STREAM.match(model):
            body["tool_stream"] = True
    elif body.pop("tool_stream", None) is not None:
        adjustments.append("tool_stream dropped: the call does not stream")


def _tool_choice(body: dict[str, Any], adjustments: list[str]) -> None:
    # GLM documents only "auto": the model picks. "none" is kept by withholding the tools.
    choice = body.get("tool_choice")
    if choice is None or choice == "auto":
        return
    if choice == "none":
        del body["tool_choice"]
        body.pop("tools", None)
        adjustments.append("tool_choice none: tools withheld")
    else:
        body["tool_choice"] = "auto"
        adjustments.append("tool_choice sent as auto: GLM takes no other")


def _adapt_parts(parts: list[Any], model: str, vision: bool, path: str) -> None:
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" or kind is None:
            continue
        medium = _MEDIUM.get(kind, kind)
        where = f"{path}[{j}]"
        if medium == "audio" or not vision:
            hint = "" if vision else "; use a vision model such as glm-4.6v or glm-5v-turbo"
            raise GatewayError(400, f"{model} does not take {medium} ('{where}' is {kind}){hint}.",
                               param=where, code="unsupported_media")
        if kind == "file":
            url = part["file"].get("file_url") if isinstance(part.get("file"), dict) else None
            if not isinstance(url, str):
                raise GatewayError(400, f"GLM takes files by URL only ('{where}' has no file_url).",
                                   param=where, code="unsupported_media")
            parts[j] = {"type": "file_url", "file_url": {"url": url}}
        elif kind == "video":  # a frame list: GLM has no such part
            raise GatewayError(400, f"GLM takes a video as one video_url, not a frame list ('{where}').",
                               param=where, code="unsupported_media")
