"""What each Kimi model can do, from its id: thinking switch, vision, video.

From Moonshot's model and vision guides: kimi-k2.5 and later think by default and take
`thinking: {type: disabled}`, and see images and videos; kimi-k2-thinking* always think;
moonshot-v1-*-vision-preview see images; the other models (moonshot-v1-*, kimi-k2-0905-preview,
kimi-k2-turbo-preview) neither think nor see. A deployment's TOML `options.vision` /
`options.video` (true/false) override the guess for ids this table does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SWITCH = re.compile(r"^kimi-k(?:2\.[5-9]|[3-9])")
_ALWAYS = re.compile(r"^kimi-k2-thinking")
_VISION = re.compile(r"^(?:kimi-k(?:2\.[5-9]|[3-9])|moonshot-v1-.*-vision|kimi-latest)")


def thinking_kind(model: str) -> str:
    """"switch" (on by default, can be turned off), "always", or "none"."""
    if _ALWAYS.match(model):
        return "always"
    return "switch" if _SWITCH.match(model) else "none"


def sees(model: str, medium: str, options: Mapping[str, Any]) -> bool:
    """Whether the model takes `medium` ("images" or "videos")."""
    override = options.get("vision" if medium == "images" else "video")
    if isinstance(override, bool):
        return override
    return bool(_VISION.match(model) if medium == "images" else _SWITCH.match(model))
