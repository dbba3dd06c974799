"""What a Kimi chat body needs beyond the OpenAI-compatible base: run on both paths.

`adapt(body, ...)` gets the OpenAI-form body the base built for the vendor (the client's own
body on passthrough, the encoded canonical request on translation) and makes it Kimi's. Every
change to what the client asked is added to `adjustments` (the `x-relayport-adjustments` header).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayport.model.errors import GatewayError
from relayport_moonshot.models import sees, thinking_kind

WEB_SEARCH_TOOL = {"type": "builtin_function", "function": {"name": "$web_search"}}
# Kimi refuses a thinking turn whose earlier tool calls lack their reasoning ("thinking is
# enabled but reasoning_content is missing"); OpenAI clients do not keep it. A blank stands in.
REASONING_PLACEHOLDER = " "

_MEDIUM = {"image_url": "images", "video_url": "videos", "video": "videos", "file": "files",
           "input_audio": "audio", "audio_url": "audio"}


def adapt(body: dict[str, Any], model: str, search: bool, budget: Any, options: Mapping[str, Any],
          adjustments: list[str]) -> None:
    """Make an OpenAI-form body Kimi's, in place; raise `GatewayError` for what Kimi cannot take."""
    kind = thinking_kind(model)
    _thinking(body, model, kind, adjustments)
    if budget is not None:
        adjustments.append("thinking_budget dropped: Kimi has no thinking budget")
    if search:
        tools = body.setdefault("tools", [])
        if WEB_SEARCH_TOOL not in tools:
            tools.append(WEB_SEARCH_TOOL)
        # Kimi's web search runs with thinking off (seed 003: enable_search "强制关闭思考模式").
        if kind == "switch" and body.get("thinking") != {"type": "disabled"}:
            body["thinking"] = {"type": "disabled"}
            adjustments.append("thinking disabled: Kimi searches without thinking")
    if body.get("tool_choice") == "required":
        # Kimi has no "required" (it answers 400); "auto" with the same tools is the nearest.
        body["tool_choice"] = "auto"
        adjustments.append("tool_choice required sent as auto: Kimi has no required")
    thinks = kind == "always" or (kind == "switch" and body.get("thinking") != {"type": "disabled"})
    placeholders = False
    for i, message in enumerate(body.get("messages") or ()):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            message["content"] = _content(content, model, options, f"messages[{i}].content")
        if thinks and message.get("role") == "assistant" and message.get("tool_calls") \
                and not message.get("reasoning_content"):
            message["reasoning_content"] = REASONING_PLACEHOLDER
            placeholders = True
    if placeholders:
        adjustments.append("reasoning_content placeholder added to earlier tool calls")


def _thinking(body: dict[str, Any], model: str, kind: str, adjustments: list[str]) -> None:
    # By now the base folded every thinking spelling into `thinking` and `reasoning_effort`
    # ("none" already became thinking disabled). Kimi documents no effort: it means "think".
    if body.pop("reasoning_effort", None) is not None:
        adjustments.append("reasoning_effort sent as thinking.type")
        if kind == "switch":
            body.setdefault("thinking", {"type": "enabled"})
    asked = body.get("thinking")
    if kind == "switch" or asked is None:
        return
    del body["thinking"]  # the model has no switch: it always thinks, or never does
    wants = isinstance(asked, dict) and asked.get("type") == "enabled"
    if kind == "always" and not wants:
        adjustments.append(f"thinking kept on: {model} always thinks")
    elif kind == "none" and wants:
        adjustments.append(f"thinking dropped: {model} does not think")


def _content(parts: list[Any], model: str, options: Mapping[str, Any], path: str) -> Any:
    texts_only = True
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            continue
        texts_only = False
        medium = _MEDIUM.get(str(kind), str(kind))
        where = f"{path}[{j}]"
        if medium in ("images", "videos") and sees(model, medium, options):
            if kind == "video":  # a frame list: Kimi has no such part
                raise GatewayError(400, f"Kimi takes a video as one video_url, not a frame list ('{where}').",
                                   param=where, code="unsupported_media")
            continue
        if medium == "files":
            why = "Kimi reads documents only through its Files API, not from a URL in the chat"
        elif medium in ("images", "videos"):
            why = "use a vision model such as kimi-k2.6"
        else:
            why = "Kimi takes no audio"
        raise GatewayError(400, f"{model} does not take {medium} ('{where}' is {kind}): {why}.",
                           param=where, code="unsupported_media")
    if texts_only:
        # Kimi's text models want a string; joining text parts loses nothing.
        return "".join(p["text"] for p in parts)
    return parts
