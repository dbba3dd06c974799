"""Content blocks: the ordered parts of a message.

One class per kind, so translators dispatch with `match`/`isinstance` and a vendor's field
that has no canonical home rides along in `extra` instead of being dropped.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.define
class TextBlock:
    text: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class ImageBlock:
    """An image by URL (http(s) or `data:` URL); `media_type`/`data` when given as base64."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class AudioBlock:
    url: str | None = None
    data: str | None = None
    format: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class VideoBlock:
    """A video by URL, or as a list of frame image URLs (DashScope style)."""

    url: str | None = None
    frames: list[str] | None = None
    fps: float | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class FileBlock:
    """A document (PDF, text): by URL, inline base64 `data`, or a vendor file id."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    filename: str | None = None
    file_id: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class ToolCallBlock:
    """A call the assistant made; `arguments` stays the JSON text the model produced."""

    id: str
    name: str
    arguments: str = ""
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class ToolResultBlock:
    tool_call_id: str
    content: list[Block] = attrs.field(factory=list)
    is_error: bool = False
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class ThinkingBlock:
    """Model reasoning. `signature` must go back to the vendor unmodified on the next turn."""

    text: str
    signature: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class RedactedThinkingBlock:
    data: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class RawBlock:
    """A part of a type relayport does not know; forwarded as-is to vendors of the same format."""

    data: dict[str, Any]
    extra: dict[str, Any] = attrs.field(factory=dict)


Block = (
    TextBlock
    | ImageBlock
    | AudioBlock
    | VideoBlock
    | FileBlock
    | ToolCallBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | RawBlock
)
