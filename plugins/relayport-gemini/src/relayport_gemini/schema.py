"""JSON Schema (what OpenAI clients send as tool parameters) -> the OpenAPI subset Gemini takes.

Gemini's `Schema` refuses keys it does not know (`additionalProperties`, `$schema`, `$ref`,
`const`, `exclusiveMinimum`...) with a 400 for the whole call. Here references are inlined,
`const` becomes a one-value `enum`, `["string","null"]` becomes `nullable`, and the rest of
what Gemini would refuse is dropped (it only constrains the model's output, which the client
validates anyway).
"""

from __future__ import annotations

from typing import Any

import orjson

_KEEP = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
})
# Formats Gemini accepts for strings; others are dropped (they are hints, not types).
_STRING_FORMATS = frozenset({"enum", "date-time"})
_MAX_DEPTH = 32


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _clean(schema, defs, 0)


def _resolve(ref: str, defs: dict[str, Any]) -> dict[str, Any]:
    name = ref.rsplit("/", 1)[-1]
    target = defs.get(name)
    return target if isinstance(target, dict) else {}


def _clean(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if not isinstance(node, dict):
        return node
    if depth > _MAX_DEPTH:  # a recursive $ref: stop expanding rather than loop
        return {"type": "object"}
    if isinstance(node.get("$ref"), str):
        merged = {**_resolve(node["$ref"], defs), **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if len(kinds) < len(value):
                out["nullable"] = True
            if len(kinds) == 1:
                out["type"] = kinds[0]
            elif kinds:
                out["anyOf"] = [{"type": t} for t in kinds]
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _clean(v, defs, depth + 1) for name, v in value.items()}
        elif key == "items" and isinstance(value, dict):
            out["items"] = _clean(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            non_null = [_clean(v, defs, depth + 1) for v in value
                        if not (isinstance(v, dict) and v.get("type") == "null")]
            if len(non_null) < len(value):
                out["nullable"] = True
            if len(non_null) == 1:
                out.update({k: v for k, v in non_null[0].items() if k not in out})
            elif non_null:
                out["anyOf"] = non_null
        elif key == "format":
            if node.get("type") != "string" or value in _STRING_FORMATS:
                out["format"] = value
        elif key in _KEEP:
            out[key] = value
    if out.get("type") == "null":
        out.pop("type")
        out["nullable"] = True
    if isinstance(out.get("enum"), list):
        values = out["enum"]
        if all(isinstance(v, str) for v in values) and out.get("type", "string") == "string":
            out.setdefault("type", "string")
        else:
            # Gemini's enums are strings only; a number enum as strings would make the model
            # answer "1" where the tool wants 1. The allowed values go to the description.
            del out["enum"]
            listed = ", ".join(orjson.dumps(v).decode() for v in values)
            out["description"] = (str(out.get("description", "")) + f" One of: {listed}.").strip()
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    return out


def parameters(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A function's parameters, or None when it takes none (Gemini refuses an OBJECT schema
    with empty `properties`)."""
    if not schema:
        return None
    cleaned = clean_schema(schema)
    if cleaned.get("type", "object") == "object" and not cleaned.get("properties"):
        return None
    return cleaned
