"""An OpenAI chat body -> Ark's: thinking, reasoning effort and media parts in Ark's words.

Both paths use it: the client's own body on passthrough, the re-encoded canonical request when
translating (Anthropic clients, fallbacks).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from relayport.model.chat import Thinking
from relayport.model.errors import GatewayError

# Ark takes minimal | low | medium | high ("minimal" answers without thinking).
_EFFORT = {"xhigh": "high", "max": "high"}
_AUDIO_FORMATS = ("mp3", "wav", "m4a", "aac", "ogg", "flac", "opus", "pcm")


def apply_thinking(body: dict[str, Any], thinking: Thinking | None, adjustments: list[str]) -> None:
    """`thinking: {type: enabled | disabled | auto}` and `reasoning_effort`, Ark's own switches."""
    if thinking is None:
        return
    if thinking.kind == "auto" and thinking.enabled is None:
        body["thinking"] = {"type": "auto"}  # the model decides per request
    elif thinking.enabled is not None:
        body["thinking"] = {"type": "enabled" if thinking.enabled else "disabled"}
    if thinking.effort and thinking.enabled is not False:
        body["reasoning_effort"] = _EFFORT.get(thinking.effort, thinking.effort)
    if thinking.budget_tokens is not None:
        adjustments.append("thinking_budget ignored: Ark takes no thinking budget (reasoning_effort does)")


def _audio_format(url: str) -> str:
    ext = urlsplit(url).path.rsplit(".", 1)[-1].lower()
    return ext if ext in _AUDIO_FORMATS else "mp3"


def adapt_parts(body: dict[str, Any]) -> None:
    """Audio as Ark's `input_audio` part (`audio_url: {url | data, format}`); files refused."""
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "audio_url":
                audio = part.get("audio_url")
                url = audio.get("url") if isinstance(audio, dict) else audio
                content[j] = {"type": "input_audio", "audio_url": {"url": url, "format": _audio_format(str(url))}}
            elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
                audio = part["input_audio"]
                content[j] = {"type": "input_audio",
                              "audio_url": {"data": audio.get("data"), "format": audio.get("format") or "wav"}}
            elif kind == "file":
                raise GatewayError(400, f"Doubao (Ark) chat does not take files (messages[{i}].content[{j}]); "
                                        "send images, video or audio.",
                                   param=f"messages[{i}].content[{j}]", code="unsupported_media")
