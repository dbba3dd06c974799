"""Canonical request -> generateContent body: the parts OpenAI clients send that Gemini takes otherwise."""

from __future__ import annotations

import pytest
from gemini_helpers import deployment, translate

from relayport.model.errors import GatewayError
from relayport_gemini.egress import model_path
from relayport_gemini.schema import clean_schema


def test_roles_merge_and_alternate() -> None:
    body, _ = translate({"messages": [
        {"role": "system", "content": "s1"}, {"role": "developer", "content": "s2"},
        {"role": "user", "content": "a"}, {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"}, {"role": "user", "content": [{"type": "text", "text": "d"}]}]})
    assert body["systemInstruction"] == {"parts": [{"text": "s1"}, {"text": "s2"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                                {"role": "model", "parts": [{"text": "c"}]},
                                {"role": "user", "parts": [{"text": "d"}]}]


def test_tool_results_share_the_turn_with_following_user_text() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    body, _ = translate({"messages": [
        {"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "[1, 2]"}, {"role": "user", "content": "and?"}]})
    assert body["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "f", "response": {"result": [1, 2]}}}, {"text": "and?"}]}


def test_schema_cleaning() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
        "$defs": {"Pt": {"type": "object", "properties": {"x": {"type": "number", "exclusiveMinimum": 0}}}},
        "properties": {
            "p": {"$ref": "#/$defs/Pt"},
            "kind": {"const": "fixed"},
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
            "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "n": {"type": "integer", "enum": [1, 2]},
        },
        "required": ["p", "ghost"],
    }
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {
            "p": {"type": "object", "properties": {"x": {"type": "number"}}},
            "kind": {"enum": ["fixed"], "type": "string"},
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string"},
            "maybe": {"type": "integer", "nullable": True},
            "n": {"type": "integer", "description": "One of: 1, 2."},
        },
        "required": ["p"],
    }
    body, _ = translate({"messages": [{"role": "user", "content": "x"}], "tools": [
        {"type": "function", "function": {"name": "noargs", "parameters": {"type": "object", "properties": {}}}}]})
    assert body["tools"] == [{"functionDeclarations": [{"name": "noargs"}]}]


def test_generation_config_and_google_options() -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "x"}], "n": 2, "top_k": 5,
                         "presence_penalty": 0.5, "frequency_penalty": 0.1, "logprobs": True, "top_logprobs": 3,
                         "response_format": {"type": "json_object"}, "stop": "END",
                         "google": {"cached_content": "cachedContents/abc"},
                         "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]})
    assert body["generationConfig"] == {"candidateCount": 2, "topK": 5, "presencePenalty": 0.5,
                                        "frequencyPenalty": 0.1, "responseLogprobs": True, "logprobs": 3,
                                        "responseMimeType": "application/json", "stopSequences": ["END"]}
    assert body["cachedContent"] == "cachedContents/abc"
    assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"


@pytest.mark.parametrize(("fields", "model", "expected"), [
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "gemini-2.5-flash",
     {"includeThoughts": True, "thinkingBudget": 2048}),
    ({"thinking_budget": 300}, "gemini-2.5-flash", {"includeThoughts": True, "thinkingBudget": 300}),
    ({"enable_thinking": True}, "gemini-2.5-flash", {"includeThoughts": True}),
    ({"enable_thinking": False}, "gemini-2.5-flash", {"thinkingBudget": 0}),
    ({"reasoning_effort": "medium"}, "gemini-3-pro-preview", {"includeThoughts": True, "thinkingLevel": "medium"}),
    ({"reasoning_effort": "none"}, "gemini-3-pro-preview", {"thinkingLevel": "low"}),
    ({"thinking_config": {"thinkingLevel": "high"}}, "gemini-3-pro-preview", {"thinkingLevel": "high"}),
])
def test_thinking(fields: dict, model: str, expected: dict) -> None:
    body, _ = translate({"messages": [{"role": "user", "content": "x"}], **fields}, model=model)
    assert body["generationConfig"]["thinkingConfig"] == expected


def test_refusals() -> None:
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "user", "content": "x"}], "stream": True, "n": 2})
    assert info.value.param == "n"
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"})
    assert info.value.param == "reasoning_effort"
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_fetch"}]})
    assert info.value.param == "tools"
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "system", "content": "only"}]})
    assert info.value.param == "messages"
    with pytest.raises(GatewayError) as info:
        translate({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                              "image_url": {"url": "ftp://x/y.png"}}]}]})
    assert info.value.status == 400 and info.value.code == "invalid_url"


def test_urls() -> None:
    assert model_path(deployment(), "generateContent") == \
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert model_path(deployment(model="models/gemini-2.5-flash", base_url="http://h/v1beta/"),
                      "streamGenerateContent", stream=True) == \
        "http://h/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert model_path(deployment(options={"api_version": "v1"}), "generateContent").endswith("/v1/models/gemini-2.5-flash:generateContent")
