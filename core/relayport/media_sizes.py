"""Reading the `size` a client gives (`1280x720`, or seed 003's `1664*928`) for vendors that want
an aspect ratio or a resolution tier instead of pixels."""

from __future__ import annotations

import math

from relayport.wire.media import size_of


def parse_size(size: str | None) -> tuple[int, int] | None:
    """`WxH` or `W*H` (as `relayport.wire.media.size_of` reads them) as two positive ints, or
    None: a zero side has no aspect ratio or tier."""
    pixels = size_of(size)
    return pixels if pixels is not None and all(pixels) else None


def aspect_ratio(width: int, height: int) -> str:
    """The reduced ratio, `16:9` for 1280x720."""
    g = math.gcd(width, height) or 1
    return f"{width // g}:{height // g}"


def resolution_tier(width: int, height: int) -> str:
    """The `720p`-style tier of a frame: its short side."""
    return f"{min(width, height)}p"
