"""Audio input the way DashScope's compatible mode takes it.

Qwen-Omni reads audio from `{"type": "input_audio", "input_audio": {"data": <URL or base64>,
"format": "wav"}}`, a URL in `data` included (Model Studio's Qwen-Omni guide); it has no
`audio_url` part. The core writes the gateway's `voices[]` array and clients' `audio_url` parts
as `audio_url`, so those are rewritten here, on both paths, only when the body holds one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

_MARKER = b'"audio_url"'
_FORMATS = frozenset({"wav", "mp3", "aac", "amr", "flac", "m4a", "ogg", "opus", "webm", "pcm"})


def _input_audio(url: str) -> dict[str, Any]:
    audio: dict[str, Any] = {"data": url}
    ext = urlsplit(url).path.rpartition(".")[2].lower()
    if ext in _FORMATS:
        audio["format"] = ext
    return {"type": "input_audio", "input_audio": audio}


def rewrite(body: bytes) -> bytes:
    """The request body with every `audio_url` part as an `input_audio` part."""
    if _MARKER not in body:
        return body
    obj = orjson.loads(body)
    for message in obj.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for i, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "audio_url":
                ref = part.get("audio_url")
                url = ref.get("url") if isinstance(ref, dict) else ref
                if isinstance(url, str):
                    content[i] = _input_audio(url)
    return orjson.dumps(obj)
