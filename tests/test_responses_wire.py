"""The Responses codec: requests into the canonical model, answers and streams out of it.

Every Response object and stream event built here is checked against OpenAI's published
schemas, and stream bytes are checked for their framing (event line, sequence numbers).
"""

from __future__ import annotations

from typing import Any

import pytest

from relayport.model.chat import ChatResponse, Choice, Message
from relayport.model.content import (
    FileBlock,
    ImageBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
)
from relayport.model.errors import GatewayError
from relayport.model.stream import (
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.model.usage import Usage
from relayport.testing import openapi
from relayport.wire import openai_responses as codec

WEATHER = {"type": "function", "name": "weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def decode(**body: Any) -> codec.ResponsesRequest:
    return codec.decode_request({"model": "m", **body})


def test_string_input_and_instructions() -> None:
    req = decode(input="hi", instructions="be brief", max_output_tokens=50, temperature=0.2, top_p=0.9)
    assert [(m.role, m.text()) for m in req.chat.messages] == [("system", "be brief"), ("user", "hi")]
    assert (req.chat.max_tokens, req.chat.temperature, req.chat.top_p) == (50, 0.2, 0.9)
    assert req.chat.include_usage and req.store and not req.chat.stream
    assert req.input_items == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert req.chat.extra == {}  # nothing OpenAI-only reaches a translated vendor


def test_items_of_one_assistant_turn_form_one_message() -> None:
    sealed = codec.seal_reasoning("think", "sig-1")
    req = decode(input=[
        {"role": "user", "content": [{"type": "input_text", "text": "weather?"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                                     {"type": "input_file", "file_data": "data:application/pdf;base64,UERG",
                                      "filename": "a.pdf"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}],
         "encrypted_content": sealed},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ])
    user, assistant, tool = req.chat.messages
    assert user.content == [TextBlock("weather?"), ImageBlock(url="data:image/png;base64,AAAA", data="AAAA",
                                                              media_type="image/png"),
                            FileBlock(data="UERG", media_type="application/pdf", filename="a.pdf")]
    assert assistant.role == "assistant"
    assert assistant.content == [ThinkingBlock("think", "sig-1"), TextBlock("Let me look."),
                                 ToolCallBlock("call_1", "weather", '{"city":"Paris"}')]
    assert tool.content == [ToolResultBlock("call_1", [TextBlock("sunny")])]


def test_reasoning_replay_forms() -> None:
    redacted = codec.seal_redacted("opaque")
    req = decode(input=[
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": redacted},
        {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "plain"}]},
        # OpenAI's own encrypted reasoning: no other vendor can read it, so it is left out.
        {"type": "reasoning", "id": "rs_3", "summary": [], "encrypted_content": "gAAAAB-openai"},
        {"role": "user", "content": "next"},
    ])
    assert req.chat.messages[0].content == [RedactedThinkingBlock("opaque"), ThinkingBlock("plain")]
    with pytest.raises(GatewayError) as err:
        decode(input=[{"type": "reasoning", "id": "r", "summary": [], "encrypted_content": "rpr1.%%%"}])
    assert err.value.status == 400 and err.value.param == "input[0].encrypted_content"


def test_tools_choice_format_reasoning() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    req = decode(input="x", tools=[WEATHER], tool_choice={"type": "function", "name": "weather"},
                 parallel_tool_calls=False, reasoning={"effort": "high", "summary": "auto"},
                 text={"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
                 metadata={"k": "v"}, include=["reasoning.encrypted_content"], truncation="auto", store=False)
    tool = req.chat.tools[0]
    assert (tool.name, tool.description, tool.parameters) == ("weather", "Current weather", WEATHER["parameters"])
    assert (req.chat.tool_choice.mode, req.chat.tool_choice.name) == ("function", "weather")
    assert req.chat.parallel_tool_calls is False
    assert req.chat.response_format == {"type": "json_schema",
                                        "json_schema": {"name": "out", "schema": schema, "strict": True}}
    assert (req.chat.thinking.enabled, req.chat.thinking.effort) == (True, "high")
    assert not req.store
    assert decode(input="x", text={"format": {"type": "json_object"}}).chat.response_format == {"type": "json_object"}
    assert decode(input="x", reasoning={"effort": "none"}).chat.thinking.enabled is False


def test_web_search_tool_asks_for_search() -> None:
    req = decode(input="news?", tools=[{"type": "web_search"}, WEATHER])
    assert req.web_search and req.chat.enable_search is True
    assert [t.name for t in req.chat.tools] == ["weather"]


@pytest.mark.parametrize("body,param,code", [
    ({}, "input", "missing_required_parameter"),
    ({"input": 5}, "input", "invalid_type"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role", "invalid_value"),
    ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0].type", "unsupported_item"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id",
     "missing_required_parameter"),
    ({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type",
     "unsupported_content"),
    ({"input": "x", "tools": [{"type": "file_search"}]}, "tools[0].type", "unsupported_tool"),
    ({"input": "x", "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
    ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type", "invalid_value"),
    ({"input": "x", "max_output_tokens": "ten"}, "max_output_tokens", "invalid_type"),
    ({"input": "x", "metadata": {"a": 1}}, "metadata.a", "invalid_type"),
    ({"input": "x", "truncation": "middle"}, "truncation", "invalid_value"),
    ({"input": "x", "conversation": "conv_1"}, "conversation", "unsupported_parameter"),
])
def test_bad_requests_name_the_field(body: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(GatewayError) as err:
        decode(**body)
    assert (err.value.status, err.value.param, err.value.code) == (400, param, code)


def test_history_goes_before_input_and_instructions_first() -> None:
    history = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
               {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "two", "annotations": []}]}]
    req = codec.decode_request({"model": "m", "input": "three", "instructions": "sys"}, history)
    assert [(m.role, m.text()) for m in req.chat.messages] == [
        ("system", "sys"), ("user", "one"), ("assistant", "two"), ("user", "three")]


def answer(blocks: list[Any], finish: str = "stop", usage: Usage | None = None) -> ChatResponse:
    return ChatResponse("x", "vendor-model", [Choice(Message("assistant", blocks), finish)], usage=usage)


def test_response_object_items_usage_and_echo() -> None:
    req = decode(input="x", tools=[WEATHER], metadata={"k": "v"}, temperature=0.3, instructions="sys")
    usage = Usage(input_tokens=100, output_tokens=40, cached_tokens=60, cache_write_tokens=5, reasoning_tokens=30)
    obj = codec.encode_response(req, answer([
        ThinkingBlock("hmm", "sig"), RedactedThinkingBlock("blob"), TextBlock("Hello "), TextBlock("there"),
        ToolCallBlock("call_9", "weather", '{"city":"Oslo"}')], "tool_calls", usage), "resp_1")
    openapi.validate_response(obj)
    assert obj["id"] == "resp_1" and obj["status"] == "completed" and obj["model"] == "m"
    assert [o["type"] for o in obj["output"]] == ["reasoning", "reasoning", "message", "function_call"]
    rs, red, msg, call = obj["output"]
    assert rs["summary"] == [{"type": "summary_text", "text": "hmm"}]
    assert codec.decode_items([rs], "i")[0].content == [ThinkingBlock("hmm", "sig")]
    assert codec.decode_items([red], "i")[0].content == [RedactedThinkingBlock("blob")]
    assert msg["content"][0]["text"] == "Hello there"
    assert (call["call_id"], call["name"], call["arguments"]) == ("call_9", "weather", '{"city":"Oslo"}')
    assert obj["usage"] == {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 5},
                            "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 30},
                            "total_tokens": 140}
    assert (obj["tools"], obj["metadata"], obj["temperature"], obj["instructions"]) == (
        [{**WEATHER, "strict": None}], {"k": "v"}, 0.3, "sys")


@pytest.mark.parametrize("finish,reason", [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_incomplete_with_reason(finish: str, reason: str) -> None:
    obj = codec.encode_response(decode(input="x"), answer([TextBlock("cut")], finish), "resp_1")
    openapi.validate_response(obj)
    assert obj["status"] == "incomplete" and obj["incomplete_details"] == {"reason": reason}
    assert obj["output"][0]["status"] == "incomplete"


def run_stream(batches: list[list[Any]], **body: Any) -> tuple[list[dict[str, Any]], list[bytes]]:
    req = decode(input="x", stream=True, **body)
    enc = codec.EventEncoder(codec.response_shell(req, "resp_s"))
    writes = [enc.start() + enc.encode(batches[0])] + [enc.encode(b) for b in batches[1:]]
    writes[-1] += enc.finish()
    events = openapi.validate_response_stream(b"".join(writes))
    return events, writes


def test_stream_text_with_usage() -> None:
    events, writes = run_stream([
        [StreamStart("c1", "vm"), TextDelta("Hel"), TextDelta("lo")],
        [TextDelta(" world")],
        [Finish("stop"), UsageUpdate(Usage(input_tokens=5, output_tokens=2))],
    ])
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    # Deltas of one read are joined into one event.
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["Hello", " world"]
    assert events[6]["text"] == "Hello world"
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello world"
    assert final["usage"]["total_tokens"] == 7
    assert all(e["item_id"] == final["output"][0]["id"] for e in events if "item_id" in e)
    assert len(writes) == 3


def test_stream_reasoning_signed_then_tools() -> None:
    events, _ = run_stream([
        [ReasoningDelta("Let me "), ReasoningDelta("think"), ReasoningSignature("sig-x")],
        [RedactedReasoning("opaque")],
        [TextDelta("Checking.")],
        [ToolCallDelta(0, "call_a", "weather", ""), ToolCallDelta(0, arguments='{"city":')],
        [ToolCallDelta(0, arguments='"Rome"}'), ToolCallDelta(1, "call_b", "weather", '{"city":"Oslo"}')],
        [Finish("tool_calls")],
    ], tools=[WEATHER])
    final = events[-1]["response"]
    assert events[-1]["type"] == "response.completed"
    assert [o["type"] for o in final["output"]] == ["reasoning", "reasoning", "message", "function_call",
                                                    "function_call"]
    rs = final["output"][0]
    assert rs["summary"][0]["text"] == "Let me think"
    assert codec.decode_items([rs], "i")[0].content == [ThinkingBlock("Let me think", "sig-x")]
    assert codec.decode_items([final["output"][1]], "i")[0].content == [RedactedThinkingBlock("opaque")]
    calls = [o for o in final["output"] if o["type"] == "function_call"]
    assert [(c["call_id"], c["arguments"]) for c in calls] == [("call_a", '{"city":"Rome"}'),
                                                              ("call_b", '{"city":"Oslo"}')]
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [d["arguments"] for d in done] == ['{"city":"Rome"}', '{"city":"Oslo"}']
    summary = [e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert summary == ["Let me think"]
    # output_item.done carries what a client replays: the sealed reasoning.
    item_done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert item_done == final["output"]
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [0, 1, 2, 3, 4]


def test_stream_incomplete_and_failed() -> None:
    events, _ = run_stream([[TextDelta("cut")], [Finish("length")]])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    events, _ = run_stream([[TextDelta("part")],
                            [StreamError(GatewayError(502, "The vendor closed the stream before it finished."))]])
    assert [e["type"] for e in events[-4:]] == ["response.content_part.done", "response.output_item.done",
                                                "error", "response.failed"]
    assert events[-2]["message"] == "The vendor closed the stream before it finished."
    assert events[-1]["response"]["error"] == {"code": "server_error",
                                               "message": "The vendor closed the stream before it finished."}
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "part"
