"""Media blocks -> Gemini parts: `inlineData` (base64) or `fileData` (a URI Google reads itself).

Google reads `gs://` objects, Files API URIs and YouTube links itself (`fileData`); any other
http(s) URL it does not fetch, so the gateway downloads it (`urls_to_fetch`, then the core,
through relayport.urlguard) and sends the bytes inline.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from relayport.model.chat import ChatRequest
from relayport.model.content import AudioBlock, Block, FileBlock, ImageBlock, ToolResultBlock, VideoBlock
from relayport.model.errors import bad_request
from relayport.urlguard import Fetched

_FILES_HOST = "generativelanguage.googleapis.com"
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"})
# What a part of each kind is when neither the client nor the server said.
_DEFAULT_TYPES = {ImageBlock: "image/jpeg", AudioBlock: "audio/wav", VideoBlock: "video/mp4",
                  FileBlock: "application/pdf"}
_AUDIO_FORMATS = {"mp3": "audio/mp3", "wav": "audio/wav", "flac": "audio/flac", "aac": "audio/aac",
                  "ogg": "audio/ogg", "aiff": "audio/aiff", "m4a": "audio/mp4", "webm": "audio/webm",
                  "pcm16": "audio/l16"}

# Spellings servers and `mimetypes` use for types Gemini names otherwise.
_CANONICAL_TYPES = {"audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/mpeg": "audio/mp3",
                    "audio/x-flac": "audio/flac", "audio/x-aiff": "audio/aiff", "image/jpg": "image/jpeg"}

MediaBlock = ImageBlock | AudioBlock | VideoBlock | FileBlock


def is_file_uri(url: str) -> bool:
    """URIs Google fetches itself: Cloud Storage, the Files API, YouTube."""
    if url.startswith("gs://") or url.startswith("files/"):
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return (host == _FILES_HOST and "/files/" in parts.path) or host in _YOUTUBE_HOSTS


def _needs_fetch(url: str | None) -> bool:
    return url is not None and url.startswith(("http://", "https://")) and not is_file_uri(url)


def _blocks(blocks: list[Block]) -> Iterator[Block]:
    for b in blocks:
        yield b
        if isinstance(b, ToolResultBlock):
            yield from b.content


def urls_to_fetch(request: ChatRequest) -> list[str]:
    """Every media URL in the request that Google will not read itself."""
    urls: list[str] = []
    for m in request.messages:
        for b in _blocks(m.content):
            if isinstance(b, (ImageBlock, AudioBlock, FileBlock)) and not b.data and _needs_fetch(b.url):
                urls.append(b.url)  # type: ignore[arg-type]
            elif isinstance(b, VideoBlock):
                urls.extend(u for u in ([b.url] if b.url else (b.frames or ())) if _needs_fetch(u))
    return urls


def _guess(url: str, block: MediaBlock) -> str:
    guessed = mimetypes.guess_type(urlsplit(url).path)[0]
    return _CANONICAL_TYPES.get(guessed or "", guessed) or _DEFAULT_TYPES[type(block)]


def _data_url(url: str, path: str) -> dict[str, Any]:
    header, sep, data = url[5:].partition(",")
    if not sep or ";base64" not in header:
        raise bad_request(f"Malformed data URL in '{path}': expected data:<type>;base64,<data>.", param=path)
    return {"inlineData": {"mimeType": header.split(";", 1)[0] or "application/octet-stream", "data": data}}


def _from_url(url: str, block: MediaBlock, fetched: dict[str, Fetched], path: str) -> dict[str, Any]:
    if url.startswith("data:"):
        return _data_url(url, path)
    if is_file_uri(url):
        if url.startswith("files/"):
            url = f"https://{_FILES_HOST}/v1beta/{url}"
        file_data: dict[str, Any] = {"fileUri": url}
        host = (urlsplit(url).hostname or "").lower()
        if host not in _YOUTUBE_HOSTS:
            guessed = mimetypes.guess_type(urlsplit(url).path)[0]
            if guessed or isinstance(block, FileBlock) and block.media_type:
                file_data["mimeType"] = (block.media_type if isinstance(block, FileBlock) else None) or guessed
        return {"fileData": file_data}
    got = fetched.get(url)
    if got is None:
        raise bad_request(f"The URL in '{path}' is neither a data URL nor http(s), gs:// or a Files API URI.",
                          param=path, code="invalid_url")
    mime = got.content_type
    if not mime or mime in ("application/octet-stream", "binary/octet-stream"):
        mime = _guess(url, block)
    mime = _CANONICAL_TYPES.get(mime, mime)
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(got.body).decode()}}


def encode_media(block: MediaBlock, fetched: dict[str, Fetched], path: str) -> list[dict[str, Any]]:
    """One block as Gemini parts (a frame-list video is several images)."""
    if isinstance(block, ImageBlock):
        if block.data:
            return [{"inlineData": {"mimeType": block.media_type or "image/jpeg", "data": block.data}}]
        return [_from_url(block.url or "", block, fetched, path)]
    if isinstance(block, AudioBlock):
        if block.data:
            mime = _AUDIO_FORMATS.get((block.format or "wav").lower(), f"audio/{block.format}")
            return [{"inlineData": {"mimeType": mime, "data": block.data}}]
        return [_from_url(block.url or "", block, fetched, path)]
    if isinstance(block, VideoBlock):
        if block.frames:
            return [_from_url(u, ImageBlock(url=u), fetched, f"{path}.video[{i}]")
                    for i, u in enumerate(block.frames)]
        part = _from_url(block.url or "", block, fetched, path)
        if block.fps is not None:
            part["videoMetadata"] = {"fps": block.fps}
        return [part]
    # FileBlock
    if block.data:
        return [{"inlineData": {"mimeType": block.media_type or "application/pdf", "data": block.data}}]
    if block.file_id:
        uri = block.file_id if "/" in block.file_id else f"files/{block.file_id}"
        return [_from_url(uri, block, fetched, path)]
    return [_from_url(block.url or "", block, fetched, path)]
