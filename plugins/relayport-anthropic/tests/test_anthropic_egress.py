"""Canonical (decoded from OpenAI chat) -> Messages request: every mapping rule, no network."""

from __future__ import annotations

import base64

import pytest
from anthropic_helpers import deployment, translate

from relayport.model.chat import ChatRequest, Message
from relayport.model.content import RawBlock, TextBlock, ThinkingBlock, ToolCallBlock
from relayport.model.errors import GatewayError
from relayport_anthropic import egress, vocab
from relayport_anthropic.testing import FakeAnthropic, Invalid

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
FAKE = FakeAnthropic()


def valid(body: dict) -> dict:
    """The body passes the fake API's rules (the same ones the e2e tests use)."""
    FAKE.validate(body)
    return body


def test_minimal_request_and_headers() -> None:
    body, headers = translate({"messages": [{"role": "user", "content": "hi"}]})
    assert valid(body) == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": vocab.DEFAULT_MAX_TOKENS,
    }
    assert headers["x-api-key"] == "sk-ant-test"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers and "anthropic-beta" not in headers


def test_url_does_not_double_v1() -> None:
    req = ChatRequest("m", [Message("user", [TextBlock("x")])])
    assert egress.build_request(deployment(), req).url == "https://api.anthropic.com/v1/messages"
    dep = deployment(base_url="https://proxy.example/anthropic/v1/")
    assert egress.build_request(dep, req).url == "https://proxy.example/anthropic/v1/messages"


def test_system_and_developer_messages_are_hoisted_in_order() -> None:
    body, _ = translate({"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "developer", "content": [{"type": "text", "text": "use French"}]},
        {"role": "user", "content": "again"},
    ]})
    assert valid(body)["system"] == [{"type": "text", "text": "be brief"}, {"type": "text", "text": "use French"}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_lone_system_message_becomes_the_user_turn() -> None:
    body, _ = translate({"messages": [{"role": "system", "content": "say hi"}]})
    assert "system" not in valid(body)
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "say hi"}]}]


def test_consecutive_same_role_turns_merge_and_empty_turns_vanish() -> None:
    body, _ = translate({"messages": [
        {"role": "user", "content": "a"},
        {"role": "user", "content": ""},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "   "},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ]})
    assert valid(body)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
        {"role": "user", "content": [{"type": "text", "text": "d"}]},
    ]


def test_prefill_loses_trailing_whitespace() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "json please"},
                                      {"role": "assistant", "content": "{\n  "}]})
    assert valid(body)["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}


def _tool_conversation() -> list[dict]:
    return [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
            {"id": "functions.weather:2", "type": "function", "function": {"name": "weather", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "functions.weather:2", "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": "thanks; which is warmer?"},
    ]


def test_tool_calls_and_results() -> None:
    body, _ = translate({"messages": _tool_conversation()})
    msgs = valid(body)["messages"]
    assert msgs[1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "functions_weather_2", "name": "weather", "input": {}},
    ]}
    # Both results and the user's text in ONE user turn, results first.
    assert msgs[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "functions_weather_2", "content": "rain"},
        {"type": "text", "text": "thanks; which is warmer?"},
    ]}


def test_tool_results_are_moved_before_text_in_a_merged_turn() -> None:
    msgs = _tool_conversation()
    msgs[2:5] = [msgs[4], msgs[2], msgs[3]]  # user text first, then the tool messages
    body, _ = translate({"messages": msgs})
    assert [b["type"] for b in valid(body)["messages"][2]["content"]] == ["tool_result", "tool_result", "text"]


def test_tool_arguments_must_be_an_object() -> None:
    msgs = _tool_conversation()
    msgs[1]["tool_calls"][0]["function"]["arguments"] = "not json"
    with pytest.raises(GatewayError) as info:
        translate({"messages": msgs})
    assert info.value.status == 400 and "not valid JSON" in info.value.message


def test_tools_and_tool_choice() -> None:
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather now",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
             {"type": "function", "function": {"name": "noargs"}}]
    msgs = [{"role": "user", "content": "hi"}]
    body, _ = translate({"messages": msgs, "tools": tools})
    assert valid(body)["tools"] == [
        {"name": "weather", "description": "Weather now",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "noargs", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body
    cases = {
        "auto": {"type": "auto"},
        "none": {"type": "none"},
        "required": {"type": "any"},
    }
    for choice, expected in cases.items():
        body, _ = translate({"messages": msgs, "tools": tools, "tool_choice": choice})
        assert valid(body)["tool_choice"] == expected
    body, _ = translate({"messages": msgs, "tools": tools,
                         "tool_choice": {"type": "function", "function": {"name": "weather"}},
                         "parallel_tool_calls": False})
    assert valid(body)["tool_choice"] == {"type": "tool", "name": "weather", "disable_parallel_tool_use": True}
    body, _ = translate({"messages": msgs, "tools": tools, "parallel_tool_calls": False})
    assert valid(body)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body, _ = translate({"messages": msgs, "tools": tools, "tool_choice": "none", "parallel_tool_calls": False})
    assert valid(body)["tool_choice"] == {"type": "none"}


def test_tool_choice_without_tools_is_dropped() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "none"})
    assert "tool_choice" not in valid(body)


def test_sampling_stop_user_and_unknown_fields() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 50,
                         "temperature": 1.6, "top_p": 0.9, "stop": "END", "user": "u-1", "seed": 7,
                         "presence_penalty": 0.5, "top_k": 20, "metadata": {"x": 1}})
    assert valid(body) == {
        "model": "claude-sonnet-4-5", "messages": body["messages"], "max_tokens": 50,
        "temperature": 1.0, "top_p": 0.9, "stop_sequences": ["END"], "top_k": 20,
        "metadata": {"user_id": "u-1"},  # Claude takes no other metadata key
    }


def test_max_completion_tokens_and_default_option() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 77})
    assert body["max_tokens"] == 77
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}]}, options={"default_max_tokens": 999})
    assert body["max_tokens"] == 999


def test_n_above_one_is_refused() -> None:
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "user", "content": "hi"}], "n": 2})
    assert info.value.param == "n"


# ------------------------------------------------------------------- media


def test_images_data_url_and_http() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ"}},
    ]}], "images": ["https://example.com/dog.webp"]})
    content = valid(body)["messages"][0]["content"]
    assert content[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert content[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    assert content[3]["source"]["media_type"] == "image/jpeg"
    assert content[4] == {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.webp"}}


def test_pdfs_as_file_parts_and_file_urls() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    text = base64.b64encode(b"plain words").decode()
    body, headers = translate({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "summarise"},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{pdf}", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_data": f"data:text/plain;base64,{text}"}},
        {"type": "file", "file": {"file_id": "file_abc"}},
    ]}], "file_urls": ["https://example.com/report.pdf"]})
    content = valid(body)["messages"][0]["content"]
    assert content[1] == {"type": "document", "title": "a.pdf",
                          "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}}
    assert content[2] == {"type": "document",
                          "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}}
    assert content[3] == {"type": "document", "source": {"type": "file", "file_id": "file_abc"}}
    assert content[4] == {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}}
    assert vocab.BETA_FILES in headers["anthropic-beta"]


@pytest.mark.parametrize("part,what", [
    ({"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}, "video"),
    ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "audio"),
    ({"type": "audio_url", "audio_url": {"url": "https://example.com/a.mp3"}}, "audio"),
])
def test_video_and_audio_are_refused_with_a_reason(part: dict, what: str) -> None:
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, part]}]})
    err = info.value
    assert err.status == 400 and err.code == "unsupported_content"
    assert f"do not accept {what}" in err.message and err.param == "messages[0].content[1]"


def test_media_arrays_for_video_and_voice_are_refused() -> None:
    for key in ("videos", "voices"):
        with pytest.raises(GatewayError) as info:
            translate({"messages": [{"role": "user", "content": "x"}], key: ["https://example.com/m"]})
        assert info.value.status == 400


def test_unknown_part_types_are_refused_but_anthropic_blocks_pass() -> None:
    with pytest.raises(GatewayError):
        translate({"messages": [{"role": "user", "content": [{"type": "hologram", "x": 1}]}]})
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}}
    body, _ = translate({"messages": [{"role": "user", "content": [doc]}]})
    assert body["messages"][0]["content"] == [doc]


def test_cache_control_is_kept_and_1h_adds_its_beta() -> None:
    req = ChatRequest("m", [
        Message("system", [TextBlock("long system", extra={"cache_control": {"type": "ephemeral", "ttl": "1h"}})]),
        Message("user", [TextBlock("q")], extra={"cache_control": {"type": "ephemeral"}}),
    ])
    body, betas = egress.encode_request(req, "claude")
    assert body["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert vocab.BETA_CACHE_TTL_1H in betas


def test_response_format_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}],
                         "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    # Claude requires additionalProperties: false on every object.
    assert valid(body)["output_config"] == {"format": {"type": "json_schema",
                                                       "schema": {**schema, "additionalProperties": False}}}


def test_web_search() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "news?"}], "enable_search": True})
    assert valid(body)["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]


# ------------------------------------------------------------------- thinking


def test_enable_thinking_with_budget() -> None:
    body, headers = translate({"messages": [{"role": "user", "content": "hi"}], "enable_thinking": True,
                               "thinking_budget": 3000, "temperature": 0.3, "top_p": 0.5, "top_k": 5})
    assert valid(body)["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert body["max_tokens"] == 3000 + vocab.DEFAULT_MAX_TOKENS
    assert "temperature" not in body and "top_k" not in body and body["top_p"] == 0.95
    assert "anthropic-beta" not in headers  # no tools, no interleaving needed


@pytest.mark.parametrize("effort,budget", [("low", 2048), ("medium", 8192), ("high", 16384)])
def test_reasoning_effort_maps_to_a_budget(effort: str, budget: int) -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort})
    assert valid(body)["thinking"] == {"type": "enabled", "budget_tokens": budget}


def test_effort_budgets_option_and_adaptive_mode() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"},
                        options={"effort_budgets": {"low": 1500}})
    assert body["thinking"]["budget_tokens"] == 1500
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "minimal"},
                        options={"thinking_mode": "adaptive"})
    assert valid(body)["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "low"}


def test_thinking_object_and_disabled_and_none() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}],
                         "thinking": {"type": "enabled", "budget_tokens": 500}, "max_tokens": 8000})
    assert valid(body)["thinking"] == {"type": "enabled", "budget_tokens": 1024}  # the API's floor
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "enable_thinking": False,
                         "temperature": 0.2})
    assert valid(body)["thinking"] == {"type": "disabled"} and body["temperature"] == 0.2
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "none"})
    assert body["thinking"] == {"type": "disabled"}


def test_budget_is_fitted_under_a_small_max_tokens() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3000,
                         "reasoning_effort": "high"})
    assert valid(body)["thinking"]["budget_tokens"] == 1500
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000, "reasoning_effort": "low"})
    assert info.value.param == "max_tokens"


def test_interleaved_thinking_beta_with_tools_except_claude_3() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    msgs = [{"role": "user", "content": "hi"}]
    _, headers = translate({"messages": msgs, "tools": tools, "reasoning_effort": "low"})
    assert headers["anthropic-beta"] == vocab.BETA_INTERLEAVED_THINKING
    _, headers = translate({"messages": msgs, "tools": tools, "reasoning_effort": "low"}, model="claude-3-7-sonnet")
    assert "anthropic-beta" not in headers
    _, headers = translate({"messages": msgs}, options={"betas": ["context-1m-2025-08-07"]})
    assert headers["anthropic-beta"] == "context-1m-2025-08-07"


def _signed_turn(signature: str = "sig-1") -> dict:
    return {"role": "assistant", "content": "let me check", "reasoning_content": "I should call f",
            "thinking_blocks": [{"type": "thinking", "thinking": "I should call f", "signature": signature},
                                {"type": "redacted_thinking", "data": "opaque=="}],
            "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}


def test_signed_thinking_replays_first_and_unmodified() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}, _signed_turn(),
                                      {"role": "tool", "tool_call_id": "toolu_1", "content": "42"}],
                         "reasoning_effort": "low"})
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "I should call f", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque=="},
        {"type": "text", "text": "let me check"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    ]
    assert body["thinking"]["type"] == "enabled"


def test_unsigned_reasoning_is_not_replayed_and_thinking_is_dropped_for_that_turn() -> None:
    turn = _signed_turn()
    del turn["thinking_blocks"]  # a client that kept only reasoning_content
    body, _ = translate({"messages": [{"role": "user", "content": "hi"}, turn,
                                      {"role": "tool", "tool_call_id": "toolu_1", "content": "42"}],
                         "reasoning_effort": "low"})
    assert [b["type"] for b in body["messages"][1]["content"]] == ["text", "tool_use"]
    # Claude would refuse thinking here (the tool turn lacks its thinking block): answer without.
    assert "thinking" not in valid(body)


def test_a_user_message_cannot_carry_assistant_blocks() -> None:
    req = ChatRequest("m", [Message("user", [ToolCallBlock("a", "f", "{}")])])
    with pytest.raises(GatewayError):
        egress.encode_request(req, "claude")
    req = ChatRequest("m", [Message("user", [RawBlock({"type": "search_result", "source": "s", "title": "t",
                                                        "content": [{"type": "text", "text": "x"}]})])])
    body, _ = egress.encode_request(req, "claude")
    assert body["messages"][0]["content"][0]["type"] == "search_result"
    req = ChatRequest("m", [Message("assistant", [ThinkingBlock("unsigned")]), Message("user", [TextBlock("q")])])
    body, _ = egress.encode_request(req, "claude")
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "q"}]}]


def test_fake_rejects_what_the_real_api_rejects() -> None:
    """The fake's rules are what the e2e tests rely on; make sure they bite."""
    ok = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    FAKE.validate(ok)
    bad = [
        {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        {**ok, "messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]},
        {**ok, "messages": [{"role": "system", "content": "x"}]},
        {**ok, "n": 1},
        {**ok, "messages": [{"role": "user", "content": [{"type": "text", "text": " "}]}]},
        {**ok, "messages": [{"role": "user", "content": "x"},
                            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]},
                            {"role": "user", "content": "no result"}]},
        {**ok, "messages": [{"role": "user", "content": "x"},
                            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]},
                            {"role": "user", "content": [{"type": "text", "text": "t"},
                                                         {"type": "tool_result", "tool_use_id": "a"}]}]},
        {**ok, "messages": [{"role": "user", "content": "x"},
                            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "forged"}]},
                            {"role": "user", "content": "y"}]},
        {**ok, "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 2000}},
        {**ok, "max_tokens": 4000, "temperature": 0.5, "thinking": {"type": "enabled", "budget_tokens": 2000}},
    ]
    for body in bad:
        with pytest.raises(Invalid):
            FAKE.validate(body)


def test_thinking_blocks_claude_cannot_verify_are_not_replayed() -> None:
    # Blocks the gateway itself made for another vendor's turn carry an empty signature, and
    # an emptied redacted block cannot be Claude's: both would fail Claude's check.
    turn = {"role": "assistant", "content": "four",
            "thinking_blocks": [{"type": "thinking", "thinking": "2+2", "signature": ""},
                                {"type": "redacted_thinking", "data": ""}]}
    body, _ = translate({"messages": [{"role": "user", "content": "2+2?"}, turn,
                                      {"role": "user", "content": "3+3?"}]})
    assert valid(body)["messages"][1]["content"] == [{"type": "text", "text": "four"}]
