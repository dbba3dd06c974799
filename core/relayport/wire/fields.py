"""Small readers for untrusted JSON that fail with a 400 naming the offending field."""

from __future__ import annotations

from typing import Any

from relayport.model.errors import GatewayError

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


def invalid(path: str, expected: str) -> GatewayError:
    return GatewayError(
        400, f"Invalid type for '{path}': expected {expected}.", param=path, code="invalid_type"
    )


def missing(path: str) -> GatewayError:
    return GatewayError(
        400, f"Missing required parameter: '{path}'.", param=path, code="missing_required_parameter"
    )


def get(obj: dict[str, Any], key: str, kind: type, path: str, required: bool = False) -> Any:
    """`obj[key]` checked to be of `kind` (None when absent or null, unless required)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise missing(path)
        return None
    return checked(value, kind, path)


def checked(value: Any, kind: type, path: str) -> Any:
    """`value` when it is of JSON type `kind` (a bool is not a number here), else a 400."""
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise invalid(path, _TYPE_NAMES.get(kind, kind.__name__))
    return value


def str_list(obj: dict[str, Any], key: str, path: str) -> list[str] | None:
    """A field that is a string or an array of strings (like OpenAI's `stop`)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise invalid(path, "a string or an array of strings")


def url_list(obj: dict[str, Any], key: str) -> list[str]:
    """A media array: URL strings, or objects with a `url` (both forms occur in the wild)."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(key, "an array of URLs")
    out: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            out.append(item["url"])
        else:
            raise invalid(f"{key}[{i}]", "a URL string")
    return out
