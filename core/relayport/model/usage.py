"""Token accounting, kept at the finest grain any vendor reports."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.define
class Usage:
    """Token counts for one call.

    `input_tokens` is the whole prompt, cached and cache-written parts included (OpenAI's
    `prompt_tokens`); vendors that report only the uncached part are summed up by their parser.
    `output_tokens` includes reasoning tokens, as OpenAI's `completion_tokens` does.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    reasoning_tokens: int | None = None
    input_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    input_video_tokens: int | None = None
    output_audio_tokens: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
