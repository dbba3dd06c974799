"""A local estimate of a request's input tokens, for vendors that cannot count them for us.

Used by the token-count endpoints (Anthropic's `/v1/messages/count_tokens`, OpenAI's
`/v1/responses/input_tokens`) on models whose vendor has no counting endpoint, and for the
`message_start` of a translated Anthropic stream (the vendor reports the true count only at the end).

The rule, documented for users: one token per 4 characters of text (system, messages, tool
call arguments and results, thinking, tool definitions as JSON), 4 tokens of framing per
message, and a flat 1,600 tokens per image (Claude's cost of an image of about 1.15 megapixels,
its largest before downscaling) and per PDF page we cannot see (counted as one). English prose
runs at about 4 characters a token on the current tokenizers; code and non-Latin scripts run
higher, so treat the number as a budget guide, not a bill. No tokenizer is bundled: the exact
ones are vendor-specific, and a BPE table per vendor would cost more than the estimate is worth.
"""

from __future__ import annotations

import orjson

from relayport.model.chat import ChatRequest
from relayport.model.content import (
    Block,
    FileBlock,
    ImageBlock,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
)

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4
PER_IMAGE = 1600


def _chars(blocks: list[Block]) -> tuple[int, int]:
    """(characters of text, flat tokens of media) in `blocks`."""
    chars = flat = 0
    for b in blocks:
        if isinstance(b, TextBlock | ThinkingBlock):
            chars += len(b.text)
        elif isinstance(b, ToolCallBlock):
            chars += len(b.name) + len(b.arguments)
        elif isinstance(b, ToolResultBlock):
            c, f = _chars(b.content)
            chars += c
            flat += f
        elif isinstance(b, ImageBlock | FileBlock):
            flat += PER_IMAGE
        elif isinstance(b, RawBlock):
            chars += len(orjson.dumps(b.data))
    return chars, flat


def input_tokens(request: ChatRequest) -> int:
    """The estimated input tokens of `request` (see the module's rule)."""
    chars = flat = 0
    for m in request.messages:
        c, f = _chars(m.content)
        chars += c
        flat += f + PER_MESSAGE
    for t in request.tools or ():
        chars += len(t.name) + len(t.description or "") + len(orjson.dumps(t.parameters or {}))
    return -(-chars // CHARS_PER_TOKEN) + flat


# Keys of a raw request body whose strings are not prompt text (names of things, settings).
_NOT_TEXT = frozenset({
    "model", "role", "type", "id", "tool_call_id", "call_id", "tool_use_id", "detail", "media_type",
    "mime_type", "mimeType", "format", "encoding_format", "service_tier", "reasoning_effort", "user",
    "metadata", "stream_options", "cache_control", "prompt_cache_key", "safety_identifier",
    "previous_response_id", "tool_choice", "modalities", "voice", "signature", "status",
})
# Keys whose value is a picture, a sound or a file (a URL, base64 or a reference): one flat
# PER_IMAGE each, never its characters.
_MEDIA = frozenset({
    "image_url", "url", "data", "file_data", "file_id", "file_url", "fileUri", "input_audio",
    "inline_data", "inlineData", "fileData", "source",
})
# Top-level lists of turns, each with PER_MESSAGE of framing.
_TURNS = ("messages", "contents", "input")


def body_input_tokens(body: dict[str, object]) -> int:
    """The estimated input tokens of a request body as a client sent it, in any surface's
    format (OpenAI chat or Responses, Anthropic messages, Gemini contents), by the module's
    rule: what a passed-through call is charged when its vendor reported no usage."""
    chars, flat = _walk(body)
    for key in _TURNS:
        turns = body.get(key)
        if isinstance(turns, list):
            flat += PER_MESSAGE * len(turns)
    return -(-chars // CHARS_PER_TOKEN) + flat


def _walk(value: object) -> tuple[int, int]:
    chars = flat = 0
    if isinstance(value, str):
        return len(value), 0
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _NOT_TEXT:
                continue
            if key in _MEDIA and not (key == "source" and isinstance(item, str)):
                flat += PER_IMAGE
                continue
            c, f = _walk(item)
            chars += c
            flat += f
    elif isinstance(value, list):
        for item in value:
            c, f = _walk(item)
            chars += c
            flat += f
    return chars, flat
