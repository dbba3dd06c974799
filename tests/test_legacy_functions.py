"""OpenAI's deprecated function calling, decoded into tools for translated vendors and answered
back in the legacy shape (core/relayport/wire/legacy_functions.py)."""

from __future__ import annotations

import orjson
import pytest

from relayport.model.errors import GatewayError
from relayport.model.stream import Finish, StreamStart, ToolCallDelta
from relayport.server.openai_routes import check_passthrough_body
from relayport.wire import legacy_functions, openai_chat

FN = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def test_functions_and_function_call_become_tools_with_one_call_per_turn() -> None:
    req = openai_chat.decode_request({"model": "m", "functions": [FN], "function_call": {"name": "get_weather"},
                                      "messages": [{"role": "user", "content": "hi"}]})
    assert req.legacy_functions is True
    assert [t.name for t in req.tools or []] == ["get_weather"] and req.tools[0].parameters == FN["parameters"]
    assert (req.tool_choice.mode, req.tool_choice.name) == ("function", "get_weather")  # type: ignore[union-attr]
    assert req.parallel_tool_calls is False
    assert "functions" not in req.extra and "function_call" not in req.extra


def test_a_legacy_history_pairs_each_function_result_with_the_call_before_it() -> None:
    req = openai_chat.decode_request({"model": "m", "functions": [FN], "messages": [
        {"role": "user", "content": "Lima and Oslo?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": '{"city":"Lima"}'}},
        {"role": "function", "name": "get_weather", "content": "20C"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
        {"role": "function", "name": "get_weather", "content": "2C"}]})
    calls = [m.content[0] for m in req.messages if m.role == "assistant"]
    results = [m.content[0] for m in req.messages if m.role == "tool"]
    assert [c.id for c in calls] == ["call_fn1", "call_fn3"]  # type: ignore[attr-defined]
    assert [r.tool_call_id for r in results] == ["call_fn1", "call_fn3"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("body,param", [
    ({"functions": [FN], "function_call": {"name": "other"}}, "function_call"),
    ({"functions": [FN], "function_call": "required"}, "function_call"),
    ({"functions": [{"description": "no name"}]}, "functions[0].name"),
    ({"functions": "nope"}, "functions"),
])
def test_bad_legacy_fields_are_400s_naming_the_field(body: dict, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        openai_chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **body})
    assert info.value.status == 400 and info.value.param == param


def test_a_function_result_without_a_call_is_a_400() -> None:
    with pytest.raises(GatewayError) as info:
        openai_chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"},
                                                               {"role": "function", "name": "f", "content": "1"}]})
    assert info.value.param == "messages[1]"


def test_tools_win_over_functions_and_answers_stay_modern() -> None:
    req = openai_chat.decode_request({"model": "m", "functions": [FN], "tools": [{"type": "function", "function": FN}],
                                      "messages": [{"role": "user", "content": "x"}]})
    assert req.legacy_functions is False and len(req.tools or []) == 1


def test_answers_in_the_legacy_shape() -> None:
    body = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}}]}
    legacy_functions.encode_response(body)
    assert body["choices"][0] == {"index": 0, "finish_reason": "function_call", "message": {
        "role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": "{}"}}}
    enc = openai_chat.ChunkEncoder("id", "m", False, legacy_functions=True)
    raw = enc.encode([StreamStart("id", "m"), ToolCallDelta(0, "c", "get_weather", ""),
                      ToolCallDelta(0, arguments='{"city":"Lima"}'), Finish("tool_calls")])
    chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n\n") if line.startswith(b"data: ")]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"function_call": {"arguments": "", "name": "get_weather"}}
    assert deltas[2] == {"function_call": {"arguments": '{"city":"Lima"}'}}
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


def test_passthrough_accepts_the_function_role() -> None:
    check_passthrough_body({"messages": [{"role": "user", "content": "x"},
                                         {"role": "function", "name": "f", "content": "1"}]})
