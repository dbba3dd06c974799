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
