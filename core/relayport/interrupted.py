"""The usage of a stream that ended before the vendor's usage came: an estimate to charge.

A vendor reports a stream's usage in its last events. When the client goes away midway, or
the vendor's connection drops, those never come, yet the vendor bills what it generated, and
a key charged nothing would get answers free by hanging up before the end. So such a stream
is charged an estimate (`[billing] estimate_interrupted`, on by default): the input by the
local rule of `relayport.token_estimate` (unless the vendor already said it, as Anthropic does
at a stream's start), the output from what was read of the vendor.

Counting the output exactly would mean decoding every event of a passed-through stream, which
the gateway otherwise forwards undecoded; instead the stream's byte count (aiohttp's) is taken
with its last read as a sample, and the sample's share of generated text is scaled to it:
characters / CHARS_PER_TOKEN, or one token per piece of text when that is more (scripts such as
Chinese run near a token per character). The sample is read for JSON string fields that carry
generated text, whatever the framing (SSE, JSON lines, AWS event-stream frames).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs
import orjson

from relayport.model.usage import Usage
from relayport.token_estimate import CHARS_PER_TOKEN

# A JSON string under a key that carries generated text: OpenAI's delta content, reasoning and
# tool arguments, Anthropic's text/thinking/partial_json deltas, Responses' `delta`, Gemini's
# part text, Bedrock's delta text.
_TEXT = re.compile(
    rb'"(?:content|text|reasoning_content|reasoning|thinking|partial_json|arguments|delta|refusal)"'
    rb'\s*:\s*"((?:[^"\\]|\\.)*)"')


def generated(sample: bytes) -> tuple[int, int]:
    """(characters, pieces) of generated text in `sample`, some raw reads of a vendor stream."""
    chars = pieces = 0
    for match in _TEXT.finditer(sample):
        raw = match.group(1)
        if not raw:
            continue
        try:
            text = orjson.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode()
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            continue
        chars += len(text)
        pieces += 1
    return chars, pieces


def output_tokens(received: int, sample: bytes) -> int:
    """The estimated output tokens of `received` bytes of a stream whose last read was `sample`."""
    if not received or not sample:
        return 0
    chars, pieces = generated(sample)
    scale = received / len(sample)
    return max(-(-round(chars * scale) // CHARS_PER_TOKEN), round(pieces * scale))


def estimate(reported: Usage | None, input_tokens: Callable[[], int], received: int,
             sample: bytes) -> Usage | None:
    """The usage to charge a stream cut short after `received` bytes: what the vendor reported,
    the input estimated when it reported none, the output the larger of its count and ours.
    None (or `reported`) when nothing was generated."""
    out = output_tokens(received, sample)
    if not out:
        return reported
    if reported is None:
        return Usage(input_tokens=input_tokens(), output_tokens=out)
    return attrs.evolve(reported, input_tokens=reported.input_tokens or input_tokens(),
                        output_tokens=max(reported.output_tokens, out))
