"""Canonical stream events: what a stream parser yields and a surface encodes.

Parsers return events in lists, one list per upstream read, so a surface writes everything
from one read in a single transport write (DESIGN.md §2: the per-write cost dominates).
"""

from __future__ import annotations

from typing import Any

import attrs

from relayport.model.errors import GatewayError
from relayport.model.usage import Usage


@attrs.define
class StreamStart:
    id: str
    model: str
    created: int = 0


@attrs.define
class TextDelta:
    text: str


@attrs.define
class ReasoningDelta:
    text: str


@attrs.define
class ReasoningSignature:
    """The signature closing the current thinking block (Anthropic `signature_delta`)."""

    signature: str


@attrs.define
class RedactedReasoning:
    data: str


@attrs.define
class ToolCallDelta:
    """A piece of tool call number `index` (0-based, stable for the whole stream).

    The first delta of a call carries `id` and `name`; later ones only `arguments` text.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@attrs.define
class UsageUpdate:
    """Cumulative usage so far; the last one seen is the call's usage."""

    usage: Usage


@attrs.define
class Finish:
    """The model stopped; `reason` is OpenAI's vocabulary, `raw` the vendor's word."""

    reason: str
    raw: str | None = None


@attrs.define
class StreamError:
    error: GatewayError


@attrs.define
class AudioDelta:
    """A piece of spoken output (OpenAI chat's `delta.audio`, Qwen-Omni's alike): `data` is
    base64 audio in the format the request asked for (`media_type` when the parser knows it),
    `transcript` a piece of its text; `id` and `expires_at` come with the first piece. Only
    parsers of calls that asked for audio (`modalities` with "audio") make these."""

    data: str | None = None
    transcript: str | None = None
    id: str | None = None
    expires_at: int | None = None
    media_type: str | None = None


@attrs.define
class DeltaExtra:
    """Fields no other event carries, for the OpenAI chat delta as given: a vendor's server
    tool calls and their results (`server_tool_calls`, see docs/tools.md). Surfaces without a
    place for them skip it."""

    fields: dict[str, Any]


StreamEvent = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ReasoningSignature
    | RedactedReasoning
    | ToolCallDelta
    | UsageUpdate
    | Finish
    | StreamError
    | DeltaExtra
    | AudioDelta
)
