"""Qwen's code interpreter through the OpenAI surface (`relayport_dashscope.code_interpreter`):
the vendor's own switch, the native streaming API that says which code ran, and that code
surfaced as `reasoning_content` and `server_tool_calls` (docs/tools.md).

The fake stream replays the shape DashScope documents for `enable_code_interpreter`: native
`id:/event:result/:HTTP_STATUS/200/data:` events, `finish_reason` "null" until the end,
cumulative usage (with `plugins.code_interpreter.count`) and `output.tool_info` repeated on
every event after a run.
"""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
from ds_fixtures import client, dashscope_fixture, ds_gateway_fixture  # noqa: F401

from relayport.testing import openapi
from relayport.testing.fakes import Reply
from relayport_dashscope.testing import TEXT

RID = "a1959ad1-2637-4672-a21f-4d351371d254"


def _event(i: int, reasoning: str = "", content: str = "", finish: str = "null",
           runs: list[str] | None = None, out_tokens: int = 1) -> bytes:
    output: dict[str, Any] = {"choices": [{"message": {"content": content, "reasoning_content": reasoning,
                                                       "role": "assistant"}, "finish_reason": finish}]}
    usage: dict[str, Any] = {"total_tokens": 287 + out_tokens, "output_tokens": out_tokens, "input_tokens": 287,
                             "output_tokens_details": {"reasoning_tokens": min(out_tokens, 68)}}
    if runs:
        output["tool_info"] = [{"code_interpreter": {"code": c}, "type": "code_interpreter"} for c in runs]
        usage["plugins"] = {"code_interpreter": {"count": len(runs)}}
    obj = {"output": output, "usage": usage, "request_id": RID}
    return b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:" % i + orjson.dumps(obj) + b"\n\n"


def interpreter_stream() -> Reply:
    events = [
        _event(1, reasoning="The user asks for 123**21."),
        _event(2, reasoning=" I will run code.", out_tokens=3),
        _event(3, runs=["123**21"], out_tokens=4),
        _event(4, reasoning="The result is 77269364466549865653073473388030061522211723.", runs=["123**21"],
               out_tokens=6),
        _event(5, content="123^21 = ", runs=["123**21"], out_tokens=8),
        _event(6, content="77269364466549865653073473388030061522211723", runs=["123**21"], out_tokens=10),
        _event(7, finish="stop", runs=["123**21"], out_tokens=10),
    ]
    return Reply.sse(events, headers={"Content-Type": "text/event-stream;charset=UTF-8"})


def _check_native_call(dashscope) -> None:
    sent = dashscope.last
    assert sent.path == TEXT and sent.headers["x-dashscope-sse"] == "enable"
    body = sent.json()
    assert body["model"] == "qwen3-max"
    assert body["input"]["messages"] == [{"role": "user", "content": "What is 123 to the power of 21?"}]
    assert body["parameters"] == {"enable_code_interpreter": True, "enable_thinking": True,
                                  "result_format": "message", "incremental_output": True}


def test_streamed_code_runs_reach_the_openai_client(ds_gateway, dashscope) -> None:
    gw = ds_gateway("qwen3-max")
    dashscope.push(interpreter_stream())
    chunks = list(client(gw).chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "What is 123 to the power of 21?"}],
        stream=True, stream_options={"include_usage": True}, extra_body={"enable_code_interpreter": True}))
    _check_native_call(dashscope)
    text, reasoning, calls, usage = "", "", {}, None
    for c in chunks:
        openapi.validate_chat_chunk(c.model_dump(exclude_unset=True, mode="json"))
        usage = c.usage or usage
        for ch in c.choices:
            text += ch.delta.content or ""
            extra = ch.delta.model_extra or {}
            reasoning += extra.get("reasoning_content") or ""
            for piece in extra.get("server_tool_calls") or ():
                calls.setdefault(piece["index"], {}).update(piece)
    assert text == "123^21 = 77269364466549865653073473388030061522211723"
    assert reasoning == ("The user asks for 123**21. I will run code.\n```python\n123**21\n```\n"
                         "The result is 77269364466549865653073473388030061522211723.")
    # Told once, though DashScope repeats tool_info on every later event.
    assert calls == {0: {"index": 0, "id": "ci_0", "type": "code_interpreter", "name": "code_interpreter",
                         "input": {"code": "123**21"}}}
    assert usage.prompt_tokens == 287 and usage.completion_tokens == 10


def test_non_streaming_client_gets_the_joined_answer(ds_gateway, dashscope) -> None:
    gw = ds_gateway("qwen3-max")
    dashscope.push(interpreter_stream())
    raw = client(gw).chat.completions.with_raw_response.create(
        model="qwen3-max", messages=[{"role": "user", "content": "What is 123 to the power of 21?"}],
        tools=[{"type": "code_interpreter"}])
    _check_native_call(dashscope)
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    message = body["choices"][0]["message"]
    assert message["content"] == "123^21 = 77269364466549865653073473388030061522211723"
    assert "```python\n123**21\n```" in message["reasoning_content"]
    assert message["server_tool_calls"] == [{"id": "ci_0", "type": "code_interpreter", "name": "code_interpreter",
                                            "input": {"code": "123**21"}}]
    assert body["usage"]["completion_tokens"] == 10
    assert "the code interpreter only streams" in raw.headers["x-relayport-adjustments"]


def test_vendor_error_mid_stream_and_before_it(ds_gateway, dashscope) -> None:
    gw = ds_gateway("qwen3-max")
    error = (b"id:2\nevent:error\n:HTTP_STATUS/400\ndata:" + orjson.dumps(
        {"code": "DataInspectionFailed", "message": "Output data may contain inappropriate content.",
         "request_id": RID}) + b"\n\n")
    dashscope.push(Reply.sse([_event(1, reasoning="Thinking"), error]))
    with pytest.raises(openai.APIError) as err:
        list(client(gw).chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "x"}], stream=True,
            extra_body={"enable_code_interpreter": True}))
    assert "inappropriate content" in str(err.value)
    dashscope.push(dashscope.business_error("invalid_api_key", native=True))
    with pytest.raises(openai.AuthenticationError):
        client(gw).chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "x"}],
                                           extra_body={"enable_code_interpreter": True})


def test_other_calls_still_use_compatible_mode(ds_gateway, dashscope) -> None:
    gw = ds_gateway("qwen3-max")
    client(gw).chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "hi"}])
    assert dashscope.last.path.startswith("/compatible-mode/")
