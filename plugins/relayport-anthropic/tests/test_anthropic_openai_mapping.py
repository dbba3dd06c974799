"""What OpenAI clients hit on Claude (issue 7, items 2 and 5), through the gateway with the `openai` SDK.

The fake refuses what Claude refuses: thinking with a forced tool, unknown `metadata` keys,
structured-output schemas with keywords Claude does not take, prefill on Claude 4.6+, structured
outputs on models before 4.5. Each test failed before its fix with that 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from anthropic_helpers import ANTHROPIC_KEY, GATEWAY_KEY

from relayport.model.http import ADJUSTMENTS_HEADER
from relayport.testing import openapi
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_anthropic.testing import FakeAnthropic

TOOLS = [{"type": "function", "function": {
    "name": "weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
FUNCTIONS = [TOOLS[0]["function"]]
USER = [{"role": "user", "content": "Weather in Lima?"}]


@pytest.fixture
def claude(fake_anthropic: FakeAnthropic) -> Iterator[openai.OpenAI]:
    """Three Claude generations: 4.5 (structured outputs, prefill), 4.6 (no prefill), 3.7 (neither
    structured outputs nor a refusal of prefill)."""
    models = [{"name": name, "provider": "anthropic", "model": model, "base_url": fake_anthropic.base_url,
               "api_key": ANTHROPIC_KEY}
              for name, model in (("c45", "claude-sonnet-4-5"), ("c46", "claude-opus-4-6"),
                                  ("c37", "claude-3-7-sonnet-20250219"))]
    handle: GatewayHandle = start_gateway(
        {"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]}, "models": models},
        env={"RELAYPORT_LOAD_PLUGINS": "anthropic"})
    yield openai.OpenAI(base_url=handle.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
    handle.stop()


def create(client: openai.OpenAI, **kwargs: Any) -> tuple[dict[str, Any], dict[str, str]]:
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    return body, dict(raw.headers)


def stream(client: openai.OpenAI, **kwargs: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    with client.chat.completions.with_streaming_response.create(stream=True, **kwargs) as raw:
        chunks = [orjson.loads(line[6:]) for line in raw.iter_lines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
        return chunks, dict(raw.headers)


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# =================================================================== item 2: thinking + a forced tool


@pytest.mark.parametrize("choice,sent_choice", [
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "weather"}}, {"type": "tool", "name": "weather"}),
])
def test_thinking_with_a_forced_tool_drops_thinking_and_says_so(
        claude: openai.OpenAI, fake_anthropic: FakeAnthropic, choice: Any, sent_choice: dict[str, Any]) -> None:
    fake_anthropic.queue_turn([{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Lima"}}])
    body, headers = create(claude, model="c45", messages=USER, tools=TOOLS, tool_choice=choice,
                           reasoning_effort="high")
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "weather"
    sent = fake_anthropic.last.json()
    assert "thinking" not in sent and sent["tool_choice"] == sent_choice
    assert sent["max_tokens"] == 4096  # the thinking budget is not added to a call without thinking
    assert headers[ADJUSTMENTS_HEADER] == "thinking off: tool_choice forces a tool"


def test_thinking_with_a_forced_tool_on_a_stream(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Lima"}}])
    chunks, headers = stream(claude, model="c45", messages=USER, tools=TOOLS, tool_choice="required",
                             extra_body={"thinking": {"type": "enabled", "budget_tokens": 2000}})
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert headers[ADJUSTMENTS_HEADER] == "thinking off: tool_choice forces a tool"


def test_thinking_with_auto_tool_choice_is_kept(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    _, headers = create(claude, model="c45", messages=USER, tools=TOOLS, reasoning_effort="low")
    assert fake_anthropic.last.json()["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert ADJUSTMENTS_HEADER not in headers


# =================================================================== item 5: metadata


def test_metadata_keeps_user_id_and_announces_the_rest(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    _, headers = create(claude, model="c45", messages=USER, metadata={"user_id": "u-7", "session": "s1", "team": "x"})
    assert fake_anthropic.last.json()["metadata"] == {"user_id": "u-7"}
    assert headers[ADJUSTMENTS_HEADER] == "metadata keys dropped: session team"
    _, headers = create(claude, model="c45", messages=USER, user="u-8", metadata={"trace": "t"})
    assert fake_anthropic.last.json()["metadata"] == {"user_id": "u-8"}
    assert headers[ADJUSTMENTS_HEADER] == "metadata keys dropped: trace"


def test_parameters_claude_has_no_counterpart_for_are_announced(
        claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    _, headers = create(claude, model="c45", messages=USER, presence_penalty=0.5, seed=7, logprobs=True,
                        service_tier="flex", metadata={"a,b\r\nx": "1"})
    sent = fake_anthropic.last.json()
    assert not {"presence_penalty", "seed", "logprobs", "service_tier", "metadata"} & set(sent)
    assert headers[ADJUSTMENTS_HEADER] == ("metadata keys dropped: a_b__x, "
                                           "ignored by Claude: logprobs presence_penalty seed service_tier")


def test_metadata_that_is_not_an_object_is_a_400(claude: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        claude.chat.completions.create(model="c45", messages=USER, extra_body={"metadata": "x"})
    assert info.value.body["param"] == "metadata"


# =================================================================== item 5: legacy functions


def test_legacy_functions_become_tools_and_answers_come_back_as_function_call(
        claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Lima"}}])
    body, _ = create(claude, model="c45", messages=USER, functions=FUNCTIONS, function_call={"name": "weather"})
    sent = fake_anthropic.last.json()
    assert sent["tools"] == [{"name": "weather", "description": "Current weather",
                              "input_schema": FUNCTIONS[0]["parameters"]}]
    # Legacy function calling makes one call per turn.
    assert sent["tool_choice"] == {"type": "tool", "name": "weather", "disable_parallel_tool_use": True}
    choice = body["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {"name": "weather", "arguments": '{"city":"Lima"}'}
    assert "tool_calls" not in choice["message"]


def test_legacy_function_loop_replays_to_claude(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    messages = [*USER,
                {"role": "assistant", "content": None, "function_call": {"name": "weather",
                                                                          "arguments": '{"city":"Lima"}'}},
                {"role": "function", "name": "weather", "content": "20C"}]
    fake_anthropic.queue_turn([{"type": "text", "text": "Warm."}])
    body, _ = create(claude, model="c45", messages=messages, functions=FUNCTIONS, function_call="auto")
    assert body["choices"][0]["message"]["content"] == "Warm."
    sent = fake_anthropic.last.json()
    call_id = sent["messages"][1]["content"][0]["id"]
    assert sent["messages"][1]["content"] == [{"type": "tool_use", "id": call_id, "name": "weather",
                                               "input": {"city": "Lima"}}]
    assert sent["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": call_id, "content": "20C"}]
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_legacy_function_call_streams_as_function_call_deltas(
        claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Lima"}}])
    chunks, _ = stream(claude, model="c45", messages=USER, functions=FUNCTIONS)
    for c in chunks:
        openapi.validate_chat_chunk(c)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any("tool_calls" in d for d in deltas)
    calls = [d["function_call"] for d in deltas if "function_call" in d]
    assert calls[0]["name"] == "weather"
    assert "".join(c.get("arguments", "") for c in calls) == '{"city":"Lima"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


def test_function_call_none_and_unknown_function(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    create(claude, model="c45", messages=USER, functions=FUNCTIONS, function_call="none")
    assert fake_anthropic.last.json()["tool_choice"] == {"type": "none"}
    with pytest.raises(openai.BadRequestError) as info:
        claude.chat.completions.create(model="c45", messages=USER, functions=FUNCTIONS,
                                       function_call={"name": "nope"})
    assert info.value.body["param"] == "function_call"


# =================================================================== item 5: response_format


def test_json_object_is_an_instruction_plus_prefill(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    # Claude continues after the prefilled "{"; the client gets the whole object.
    fake_anthropic.queue_turn([{"type": "text", "text": '"answer": 42}'}])
    body, headers = create(claude, model="c45", messages=USER, response_format={"type": "json_object"})
    assert orjson.loads(body["choices"][0]["message"]["content"]) == {"answer": 42}
    sent = fake_anthropic.last.json()
    assert "JSON" in sent["system"][-1]["text"]
    assert sent["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}
    assert "output_config" not in sent
    assert headers[ADJUSTMENTS_HEADER] == "json_object by instruction and prefill"
    fake_anthropic.queue_turn([{"type": "text", "text": '"answer": 42}'}])
    chunks, _ = stream(claude, model="c45", messages=USER, response_format={"type": "json_object"})
    assert orjson.loads(text_of(chunks)) == {"answer": 42}


def test_json_object_on_a_model_without_prefill_is_an_instruction(
        claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": '{"answer": 42}'}])
    body, headers = create(claude, model="c46", messages=USER, response_format={"type": "json_object"})
    assert orjson.loads(body["choices"][0]["message"]["content"]) == {"answer": 42}
    assert fake_anthropic.last.json()["messages"][-1]["role"] == "user"
    assert headers[ADJUSTMENTS_HEADER] == "json_object by instruction"


def test_json_object_with_thinking_is_an_instruction(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": '{"a": 1}'}])
    body, _ = create(claude, model="c45", messages=USER, response_format={"type": "json_object"},
                     reasoning_effort="low")
    assert orjson.loads(body["choices"][0]["message"]["content"]) == {"a": 1}
    assert fake_anthropic.last.json()["messages"][-1]["role"] == "user"  # no prefill with thinking


SCHEMA = {"type": "object", "title": "Person",
          "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 40},
                         "age": {"type": "integer", "minimum": 0, "description": "years"},
                         "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                         "nick": {"type": ["string", "null"]},
                         "kind": {"oneOf": [{"const": "a"}, {"const": "b"}]},
                         "home": {"$ref": "#/$defs/Place"}},
          "required": ["name", "age"],
          "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string", "pattern": "^[A-Z]"}}}}}


def test_json_schema_is_adapted_to_what_claude_accepts(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": '{"name": "Ada", "age": 36}'}])
    body, headers = create(claude, model="c45", messages=USER, response_format={
        "type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA, "strict": True}})
    assert orjson.loads(body["choices"][0]["message"]["content"]) == {"name": "Ada", "age": 36}
    schema = fake_anthropic.last.json()["output_config"]["format"]["schema"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["name"] == {"type": "string", "description": "minLength: 1, maxLength: 40"}
    assert props["age"] == {"type": "integer", "description": "years (minimum: 0)"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "description": "minItems: 2"}
    assert props["nick"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["kind"] == {"anyOf": [{"const": "a"}, {"const": "b"}]}
    assert schema["$defs"]["Place"]["additionalProperties"] is False
    assert schema["$defs"]["Place"]["properties"]["city"] == {"type": "string", "description": "pattern: ^[A-Z]"}
    assert headers[ADJUSTMENTS_HEADER] == "json_schema adapted for Claude"


def test_a_schema_claude_takes_as_is_is_not_announced(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    fake_anthropic.queue_turn([{"type": "text", "text": '{"a": 1}'}])
    _, headers = create(claude, model="c45", messages=USER, response_format={
        "type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    assert fake_anthropic.last.json()["output_config"]["format"] == {"type": "json_schema", "schema": schema}
    assert ADJUSTMENTS_HEADER not in headers


def test_json_schema_on_a_model_without_structured_outputs(claude: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.queue_turn([{"type": "text", "text": '"name": "Ada", "age": 36}'}])
    body, headers = create(claude, model="c37", messages=USER, response_format={
        "type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}})
    assert orjson.loads(body["choices"][0]["message"]["content"]) == {"name": "Ada", "age": 36}
    sent = fake_anthropic.last.json()
    assert "output_config" not in sent
    assert '"minLength":1' in sent["system"][-1]["text"]  # the client's schema, whole, in the instruction
    assert headers[ADJUSTMENTS_HEADER] == "json_schema by instruction and prefill"


def test_unknown_response_format_is_a_400(claude: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        claude.chat.completions.create(model="c45", messages=USER, response_format={"type": "yaml"})  # type: ignore[arg-type,typeddict-item]
    assert info.value.body["param"] == "response_format"
