"""What DashScope's model families can do, where the plugin must know it before calling."""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import Any

# DashScope documents web search for its commercial text models only: "qwen-vl series, the
# open-weight qwen series and qwen-long do not support enable_search" (seed 002 says the same).
_NO_SEARCH = ("*vl*", "qwen2*", "qwen1.5*", "qwen-long*", "qwen-mt*", "*omni*", "qvq*", "qwq-32b*",
              "*-instruct*", "*coder*")
_OPEN_WEIGHT = re.compile(r"^qwen3(?:\.\d+)?-(?:vl-|next-)?\d+b")


def searches(model: str, options: Any) -> bool:
    """Whether `enable_search` means anything to this model (TOML `options.search` overrides)."""
    forced = options.get("search") if options else None
    if forced is not None:
        return bool(forced)
    return _searches(model)


@lru_cache(maxsize=1024)  # asked on every call: decided once per model name
def _searches(model: str) -> bool:
    name = model.lower()
    return not (_OPEN_WEIGHT.match(name) or any(fnmatch.fnmatchcase(name, p) for p in _NO_SEARCH))


SEARCH_FIELDS = ("enable_search", "search_options")


def drop_search(body: dict[str, Any], model: str) -> str | None:
    """Remove search fields the model cannot use; the adjustment phrase when something went."""
    if not body.get("enable_search") and "search_options" not in body:
        return None
    for key in SEARCH_FIELDS:
        body.pop(key, None)
    return f"enable_search ignored: {model} has no web search"
