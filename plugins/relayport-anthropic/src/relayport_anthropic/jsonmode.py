"""OpenAI `response_format` on Claude: what makes Claude answer JSON, and how.

- `json_schema`, on models with structured outputs (Claude 4.5+): `output_config.format` with
  the schema adapted to what Claude takes (`relayport_anthropic.schema`).
- `json_schema` on older models, and `json_object` on every model: an instruction appended to
  the system prompt (with the client's schema, whole, for json_schema), plus a `{` prefilled as
  the start of Claude's answer where the model takes prefill (before Claude 4.6) and thinking
  is off (Claude refuses prefill with thinking). The prefilled `{` is put back in front of the
  answer, so the client gets the whole object. `json_object` cannot use structured outputs:
  they require `additionalProperties: false` on every object, so "any object" has no schema.
- `text` (or none): nothing. Any other type: 400.

Options `structured_outputs` and `prefill` (booleans) override the per-generation defaults.
Every path but an unchanged schema is announced in `x-relayport-adjustments`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from relayport.model.chat import ChatRequest
from relayport.model.errors import bad_request
from relayport_anthropic import schema, vocab

PREFILL = "{"
_OBJECT = "Answer with one JSON object and nothing else: no prose before or after it, no Markdown code fences."
_SCHEMA = ("Answer with one JSON object that is valid against the JSON schema below, and nothing else: "
           "no prose before or after it, no Markdown code fences.\n\nJSON schema:\n")


@attrs.define
class Plan:
    """How one call asks Claude for JSON."""

    output_format: dict[str, Any] | None = None
    instruction: str | None = None
    prefill: str | None = None
    adjustment: str | None = None


def _option(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key)
    return default if value is None else bool(value)


def _schema_of(rf: dict[str, Any]) -> dict[str, Any]:
    spec = rf.get("json_schema")
    value = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(value, dict):
        raise bad_request("response_format.json_schema.schema must be an object.", param="response_format")
    return value


def plan(req: ChatRequest, model: str, options: Mapping[str, Any]) -> Plan | None:
    """The plan for `req`, None when it asks for no JSON. Pure: the response parsers call it
    again to learn whether a prefill has to be put back."""
    rf = req.response_format
    kind = rf.get("type") if rf else None
    if kind is None or kind == "text":
        return None
    if kind not in ("json_object", "json_schema"):
        raise bad_request(f"response_format type {kind!r} is not supported; use text, json_object or "
                          "json_schema.", param="response_format")
    assert rf is not None
    if kind == "json_schema":
        client_schema = _schema_of(rf)
        if _option(options, "structured_outputs", vocab.structured_outputs(model)):
            adapted = schema.adapt(client_schema)
            return Plan(output_format={"type": "json_schema", "schema": adapted},
                        adjustment=None if adapted == client_schema else "json_schema adapted for Claude")
        instruction = _SCHEMA + orjson.dumps(client_schema).decode()
    else:
        instruction = _OBJECT
    thinking = req.thinking is not None and req.thinking.enabled is not False
    can_prefill = (_option(options, "prefill", vocab.prefill(model)) and not thinking
                   and bool(req.messages) and req.messages[-1].role != "assistant")
    return Plan(instruction=instruction, prefill=PREFILL if can_prefill else None,
                adjustment=f"{kind} by instruction" + (" and prefill" if can_prefill else ""))


def prefill_of(req: ChatRequest, model: str, options: Mapping[str, Any]) -> str | None:
    """The text prefilled for `req` (to be put back in front of the answer), if any."""
    if not req.response_format:
        return None
    p = plan(req, model, options)
    return p.prefill if p else None
