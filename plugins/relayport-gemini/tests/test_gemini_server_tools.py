"""Gemini's built-in tools asked for from the OpenAI surface (`relayport_gemini.server_tools`):
code execution, Google Search grounding, URL context and computer use, and what they did
surfaced as `server_tool_calls` and `url_citation` annotations (docs/tools.md)."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
from gemini_helpers import GATEWAY_KEY
from google.genai import types

from relayport.testing import openapi
from relayport_gemini.testing import FakeGemini

pytest_plugins = ("gemini_fixtures",)

ANSWER = "Die Summe ist 5050. Berlin hat 3,9 Mio. Einwohner."
CODE_PARTS: list[dict[str, Any]] = [
    {"text": "Ich rechne das aus. "},
    {"executableCode": {"language": "PYTHON", "code": "print(sum(range(101)))"}},
    {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "5050\n"}},
    {"text": ANSWER},
]
SUPPORTED = "Berlin hat 3,9 Mio. Einwohner."
FULL = "Ich rechne das aus. " + ANSWER
START = len(FULL[: FULL.index(SUPPORTED)].encode())  # Gemini counts UTF-8 bytes
GROUNDING: dict[str, Any] = {
    "groundingMetadata": {
        "webSearchQueries": ["Einwohner Berlin"],
        "groundingChunks": [{"web": {"uri": "https://www.berlin.de/zahlen", "title": "berlin.de"}}],
        "groundingSupports": [{"segment": {"startIndex": START, "endIndex": START + len(SUPPORTED.encode()),
                                           "text": SUPPORTED}, "groundingChunkIndices": [0]}],
        "searchEntryPoint": {"renderedContent": "<div>Google</div>"}},
    "urlContextMetadata": {"urlMetadata": [{"retrievedUrl": "https://www.berlin.de/zahlen",
                                            "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"}]},
}
TOOLS = [{"type": "code_execution"}, {"type": "google_search"}, {"type": "url_context"}]


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


def test_fake_answer_is_geminis_own_shape():
    candidate = {"content": {"parts": CODE_PARTS, "role": "model"}, "finishReason": "STOP", **GROUNDING}
    parsed = types.GenerateContentResponse.model_validate({"candidates": [candidate]})
    assert parsed.executable_code == "print(sum(range(101)))"
    assert parsed.candidates[0].grounding_metadata.grounding_supports[0].segment.start_index == START


def test_openai_client_gets_code_runs_searches_and_citations(client, fake_gemini: FakeGemini):
    fake_gemini.queue_turn([dict(p) for p in CODE_PARTS], metadata=GROUNDING)
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-flash", messages=[{"role": "user", "content": "1+...+100? Einwohner Berlin?"}], tools=TOOLS)
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    sent = fake_gemini.requests[-1].json()
    assert sent["tools"] == [{"codeExecution": {}}, {"googleSearch": {}}, {"urlContext": {}}]
    message = body["choices"][0]["message"]
    assert message["content"] == FULL
    calls = message["server_tool_calls"]
    assert [c["type"] for c in calls] == ["code_execution", "google_search", "url_context"]
    assert calls[0]["input"] == {"language": "PYTHON", "code": "print(sum(range(101)))"}
    assert calls[0]["output"] == {"outcome": "OUTCOME_OK", "output": "5050\n"}
    assert calls[1]["input"] == {"queries": ["Einwohner Berlin"]}
    assert calls[1]["output"]["sources"][0]["uri"] == "https://www.berlin.de/zahlen"
    assert calls[2]["output"]["urls"][0]["urlRetrievalStatus"] == "URL_RETRIEVAL_STATUS_SUCCESS"
    (note,) = raw.parse().choices[0].message.annotations
    span = note.url_citation
    assert FULL[span.start_index:span.end_index] == SUPPORTED and span.url == "https://www.berlin.de/zahlen"


def test_streamed_code_runs(client, fake_gemini: FakeGemini):
    fake_gemini.queue_turn([dict(p) for p in CODE_PARTS])
    text, calls = "", {}
    for chunk in client.chat.completions.create(model="gemini-flash", stream=True, tools=TOOLS[:1],
                                                messages=[{"role": "user", "content": "1+...+100?"}]):
        openapi.validate_chat_chunk(chunk.model_dump(exclude_unset=True, mode="json"))
        for ch in chunk.choices:
            text += ch.delta.content or ""
            for piece in (ch.delta.model_extra or {}).get("server_tool_calls") or ():
                calls.setdefault(piece["index"], {}).update({k: v for k, v in piece.items() if k != "index"})
    assert text == FULL
    assert calls == {0: {"id": "srvtool_0", "type": "code_execution", "name": "executable_code",
                         "input": {"language": "PYTHON", "code": "print(sum(range(101)))"},
                         "output": {"outcome": "OUTCOME_OK", "output": "5050\n"}}}


def test_computer_use_tool_and_its_ui_actions(client, fake_gemini: FakeGemini):
    fake_gemini.queue_turn([{"functionCall": {"name": "click_at", "args": {"x": 120, "y": 300}}}])
    answer = client.chat.completions.create(
        model="gemini-flash", messages=[{"role": "user", "content": "open the menu"}],
        tools=[{"type": "computer_use", "excluded_predefined_functions": ["drag_and_drop"]}])
    assert fake_gemini.requests[-1].json()["tools"] == [
        {"computerUse": {"environment": "ENVIRONMENT_BROWSER", "excludedPredefinedFunctions": ["drag_and_drop"]}}]
    (call,) = answer.choices[0].message.tool_calls
    assert call.function.name == "click_at" and orjson.loads(call.function.arguments) == {"x": 120, "y": 300}


def test_claude_only_tools_are_refused_for_gemini(client, fake_gemini: FakeGemini):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "hi"}],
                                       tools=[{"type": "web_fetch"}])
    assert err.value.code == "unsupported_tool" and "web_fetch" in err.value.body["message"]
    assert fake_gemini.requests == []


def test_responses_client_gets_grounding_citations(client, fake_gemini: FakeGemini):
    """Through `/v1/responses` (translated), Google Search grounding supports are `url_citation`
    annotations on the output text, in characters of that text, background responses too."""
    import time

    for background in (False, True):
        fake_gemini.queue_turn([{"text": FULL}], metadata=GROUNDING)
        raw = client.responses.with_raw_response.create(model="gemini-flash", input="Einwohner Berlin?",
                                                        tools=[{"type": "web_search"}], background=background)
        obj = orjson.loads(raw.content)
        deadline = time.monotonic() + 10
        while obj["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
            obj = orjson.loads(client.responses.with_raw_response.retrieve(obj["id"]).content)
        openapi.validate_response(obj)
        assert fake_gemini.last.json()["tools"] == [{"googleSearch": {}}]
        (part,) = [p for item in obj["output"] if item["type"] == "message" for p in item["content"]]
        assert part["text"] == FULL
        assert [(FULL[a["start_index"]:a["end_index"]], a["url"]) for a in part["annotations"]] == [
            (SUPPORTED, "https://www.berlin.de/zahlen")]
