"""OpenAI's deprecated function calling (`functions`, `function_call`, `role: "function"`).

Older clients still send it (and OpenAI still takes it). A vendor that is not OpenAI has only
tools, so a translated call gets the legacy fields rewritten into their tool twins before
decoding, and its answer goes back in the legacy shape the client reads: `message.function_call`
and `finish_reason: "function_call"` (streams: `delta.function_call`). Legacy calls carry no
ids; the gateway gives each assistant call one (`call_fn<i>`, from its message index) and
pairs every `function` message with the call before it. Passthrough to OpenAI-format vendors
never comes here: they get the fields as sent.
"""

from __future__ import annotations

from typing import Any

from relayport.model.errors import GatewayError, bad_request
from relayport.wire.fields import get, invalid

FIELDS = ("functions", "function_call")


def used(obj: dict[str, Any], messages: list[Any]) -> bool:
    """True when the body uses legacy function calling anywhere (request or history)."""
    if "functions" in obj or "function_call" in obj:
        return True
    return any(isinstance(m, dict) and (m.get("role") == "function" or "function_call" in m) for m in messages)


def modernize(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of the body with legacy fields and messages rewritten as tools; 400 on bad shapes."""
    out = {k: v for k, v in obj.items() if k not in FIELDS}
    functions = get(obj, "functions", list, "functions")
    if functions is not None and "tools" not in obj:
        tools = []
        for i, fn in enumerate(functions):
            if not isinstance(fn, dict):
                raise invalid(f"functions[{i}]", "an object")
            get(fn, "name", str, f"functions[{i}].name", required=True)
            tools.append({"type": "function", "function": fn})
        out["tools"] = tools
        # Legacy function calling makes at most one call per turn.
        out.setdefault("parallel_tool_calls", False)
    if "function_call" in obj and "tool_choice" not in obj:
        out["tool_choice"] = _tool_choice(obj["function_call"], functions or [])
    out["messages"] = _messages(get(obj, "messages", list, "messages", required=True))
    return out


def _tool_choice(value: Any, functions: list[Any]) -> Any:
    if value in ("auto", "none"):
        return value
    if isinstance(value, dict):
        name = get(value, "name", str, "function_call.name", required=True)
        if not any(isinstance(f, dict) and f.get("name") == name for f in functions):
            raise bad_request(f"'function_call' names '{name}', which is not in 'functions'.",
                              param="function_call")
        return {"type": "function", "function": {"name": name}}
    raise GatewayError(400, f"Invalid value for 'function_call': {value!r}; expected 'auto', 'none' "
                       "or {\"name\": ...}.", param="function_call", code="invalid_value")


def _messages(messages: list[Any]) -> list[Any]:
    out: list[Any] = []
    last_id: str | None = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            out.append(m)  # the decoder names the error
            continue
        if m.get("role") == "assistant" and "function_call" in m:
            fc = get(m, "function_call", dict, f"messages[{i}].function_call", required=True)
            last_id = f"call_fn{i}"
            call = {"id": last_id, "type": "function", "function": fc}
            m = {k: v for k, v in m.items() if k != "function_call"}
            m["tool_calls"] = [*(m.get("tool_calls") or []), call]
        elif m.get("role") == "function":
            if last_id is None:
                raise bad_request(f"messages[{i}] answers a function call, but no assistant "
                                  "'function_call' comes before it.", param=f"messages[{i}]")
            m = {"role": "tool", "tool_call_id": last_id, "content": m.get("content")}
        out.append(m)
    return out


def encode_response(body: dict[str, Any]) -> dict[str, Any]:
    """An encoded chat completion answered in the legacy shape, in place."""
    for choice in body.get("choices") or ():
        message = choice.get("message") or {}
        calls = message.pop("tool_calls", None)
        if calls:
            message["function_call"] = calls[0]["function"]
        if choice.get("finish_reason") == "tool_calls":
            choice["finish_reason"] = "function_call"
    return body
