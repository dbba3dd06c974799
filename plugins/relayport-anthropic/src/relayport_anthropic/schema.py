"""An OpenAI `json_schema` adapted to the JSON Schema subset Claude's structured outputs take.

Claude's constrained decoding accepts: `type`, `properties`, `required`, `items`, `enum` and
`const` of primitives, `anyOf`, `allOf`, local `$ref` with `$defs`/`definitions`, `description`,
`title`, `default`, the string `format`s listed below, `minItems` of 0 or 1, and requires
`additionalProperties: false` on every object. It refuses the rest (numeric and string bounds,
`pattern`, `oneOf`, type arrays, other array bounds...).

So: `oneOf` becomes `anyOf`, a type array becomes an `anyOf` of single types, every object gets
`additionalProperties: false`, and each constraint Claude cannot enforce moves into the
`description` ("minimum: 0"), where the model still reads it. Recursive schemas are left as
they are (Claude answers with its own 400).
"""

from __future__ import annotations

from typing import Any

import orjson

STRING_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri",
                            "ipv4", "ipv6", "uuid"})
_ANNOTATIONS = ("description", "title", "default")


def _primitive(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def adapt(schema: dict[str, Any]) -> dict[str, Any]:
    """The adapted copy of `schema` (the input is not changed)."""
    rest = dict(schema)
    out: dict[str, Any] = {}
    types = rest.pop("type", None)
    if isinstance(types, list):
        # One variant per type, each with the keywords that apply to it.
        annotations = {k: rest.pop(k) for k in _ANNOTATIONS if k in rest}
        out["anyOf"] = [adapt({**rest, "type": t}) for t in types]
        out.update(annotations)
        return out
    for key in ("$defs", "definitions"):
        defs = rest.pop(key, None)
        if isinstance(defs, dict):
            out[key] = {name: adapt(sub) if isinstance(sub, dict) else sub for name, sub in defs.items()}
    if types is not None:
        out["type"] = types
    if "$ref" in rest:
        out["$ref"] = rest.pop("$ref")
    for key in ("anyOf", "oneOf", "allOf"):
        variants = rest.pop(key, None)
        if isinstance(variants, list):
            out["allOf" if key == "allOf" else "anyOf"] = [adapt(v) if isinstance(v, dict) else v for v in variants]
    if isinstance(rest.get("enum"), list) and all(_primitive(v) for v in rest["enum"]):
        out["enum"] = rest.pop("enum")
    if "const" in rest and _primitive(rest["const"]):
        out["const"] = rest.pop("const")
    if types == "object":
        props = rest.pop("properties", None) or {}
        out["properties"] = {k: adapt(v) if isinstance(v, dict) else v for k, v in props.items()}
        if "required" in rest:
            out["required"] = rest.pop("required")
        extra = rest.pop("additionalProperties", False)
        if extra is not False:
            rest["additionalProperties"] = extra  # not enforceable: said in the description
        out["additionalProperties"] = False
    elif types == "array":
        if isinstance(rest.get("items"), dict):
            out["items"] = adapt(rest.pop("items"))
        if rest.get("minItems") in (0, 1):
            out["minItems"] = rest.pop("minItems")
    elif types == "string" and rest.get("format") in STRING_FORMATS:
        out["format"] = rest.pop("format")
    for key in _ANNOTATIONS:
        if key in rest:
            out[key] = rest.pop(key)
    if rest:
        # What Claude cannot enforce, where the model still reads it.
        limits = ", ".join(f"{k}: {_text(v)}" for k, v in rest.items())
        described = out.get("description")
        out["description"] = f"{described} ({limits})" if isinstance(described, str) and described else limits
    return out
