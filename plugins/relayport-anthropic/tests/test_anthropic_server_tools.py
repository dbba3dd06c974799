"""Claude's server tools asked for from the OpenAI surface (`relayport_anthropic.server_tools`):
the versioned tool types and beta headers Claude needs, and the result blocks surfaced as
`server_tool_calls` and `url_citation` annotations (docs/tools.md)."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport_anthropic.testing import FakeAnthropic

CITED = "Claude Shannon was born on April 30, 1916, in Petoskey, Michigan"
WIKI = "https://en.wikipedia.org/wiki/Claude_Shannon"

# Claude's answer blocks for the three server tools, as the Messages API documents them.
TURN: list[dict[str, Any]] = [
    {"type": "text", "text": "Let me look that up and compute. "},
    {"type": "server_tool_use", "id": "srvtoolu_01ws", "name": "web_search",
     "input": {"query": "claude shannon birth date"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01ws", "content": [
        {"type": "web_search_result", "url": WIKI, "title": "Claude Shannon - Wikipedia",
         "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5", "page_age": "April 30, 2025"}]},
    {"type": "text", "text": CITED, "citations": [
        {"type": "web_search_result_location", "url": WIKI, "title": "Claude Shannon - Wikipedia",
         "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm", "cited_text": "Claude Elwood Shannon (April 30, 1916"}]},
    {"type": "server_tool_use", "id": "srvtoolu_02ce", "name": "bash_code_execution",
     "input": {"command": "python3 -c 'print(2026 - 1916)'"}},
    {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_02ce", "content": {
        "type": "bash_code_execution_result", "stdout": "110\n", "stderr": "", "return_code": 0, "content": []}},
    {"type": "server_tool_use", "id": "srvtoolu_03wf", "name": "web_fetch", "input": {"url": WIKI}},
    {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_03wf", "content": {
        "type": "web_fetch_result", "url": WIKI, "retrieved_at": "2025-08-25T10:30:00Z",
        "content": {"type": "document", "title": "Claude Shannon",
                    "source": {"type": "text", "media_type": "text/plain", "data": "Claude Elwood Shannon..."}}}},
    {"type": "text", "text": " He would be 110 this year."},
]
TOOLS = [{"type": "code_execution"}, {"type": "web_search", "max_uses": 2, "search_context_size": "low"},
         {"type": "web_fetch", "max_content_tokens": 5000},
         {"type": "function", "function": {"name": "remember", "parameters": {"type": "object"}}}]
USAGE = {"server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 1}}


def test_fake_answer_is_claudes_own_shape():
    # The blocks the fake plays parse with the official SDK's types, unknown fields refused.
    msg = anthropic.types.Message.model_validate({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": TURN,
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 5}})
    assert [b.type for b in msg.content][1:3] == ["server_tool_use", "web_search_tool_result"]


def test_openai_client_gets_claudes_server_tools(openai_client, fake_anthropic: FakeAnthropic):
    fake_anthropic.queue_turn([dict(b) for b in TURN], usage=USAGE)
    raw = openai_client.chat.completions.with_raw_response.create(
        model="claude-test", messages=[{"role": "user", "content": "When was Shannon born? How old now?"}],
        tools=TOOLS)
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    sent = fake_anthropic.last
    assert orjson.loads(sent.body)["tools"][:3] == [
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
        {"type": "web_fetch_20250910", "name": "web_fetch", "max_content_tokens": 5000}]
    assert set(sent.headers["anthropic-beta"].split(",")) >= {"code-execution-2025-08-25", "web-fetch-2025-09-10"}
    message = body["choices"][0]["message"]
    assert message["content"] == "Let me look that up and compute. " + CITED + " He would be 110 this year."
    calls = message["server_tool_calls"]
    assert [(c["id"], c["type"], c["name"]) for c in calls] == [
        ("srvtoolu_01ws", "web_search", "web_search"),
        ("srvtoolu_02ce", "code_execution", "bash_code_execution"),
        ("srvtoolu_03wf", "web_fetch", "web_fetch")]
    assert calls[0]["input"] == {"query": "claude shannon birth date"}
    assert calls[0]["output"][0]["url"] == WIKI
    assert calls[1]["output"]["stdout"] == "110\n" and calls[1]["output"]["return_code"] == 0
    assert calls[2]["output"]["content"]["title"] == "Claude Shannon"
    (note,) = message["annotations"]
    span = note["url_citation"]
    assert message["content"][span["start_index"]:span["end_index"]] == CITED and span["url"] == WIKI
    # The SDK exposes the documented annotation type.
    parsed = raw.parse().choices[0].message
    assert parsed.annotations[0].url_citation.title == "Claude Shannon - Wikipedia"


def test_streamed_server_tool_calls_merge_by_index(openai_client, fake_anthropic: FakeAnthropic):
    fake_anthropic.queue_turn([dict(b) for b in TURN], usage=USAGE)
    chunks = list(openai_client.chat.completions.create(
        model="claude-test", messages=[{"role": "user", "content": "Shannon?"}], tools=TOOLS[:3], stream=True))
    text, calls = "", {}
    for c in chunks:
        openapi.validate_chat_chunk(c.model_dump(exclude_unset=True, mode="json"))
        for ch in c.choices:
            text += ch.delta.content or ""
            for piece in (ch.delta.model_extra or {}).get("server_tool_calls") or ():
                calls.setdefault(piece["index"], {}).update({k: v for k, v in piece.items() if k != "index"})
    assert text.endswith("He would be 110 this year.") and CITED in text
    assert [calls[i]["name"] for i in range(3)] == ["web_search", "bash_code_execution", "web_fetch"]
    assert calls[1]["input"] == {"command": "python3 -c 'print(2026 - 1916)'"}
    assert calls[1]["output"]["stdout"] == "110\n"
    assert calls[0]["output"][0]["title"] == "Claude Shannon - Wikipedia"


def test_calls_without_server_tools_are_unchanged(openai_client, fake_anthropic: FakeAnthropic):
    fake_anthropic.queue_turn([{"type": "text", "text": "plain"}])
    message = openai_client.chat.completions.create(
        model="claude-test", messages=[{"role": "user", "content": "hi"}]).choices[0].message
    assert message.content == "plain" and "server_tool_calls" not in (message.model_extra or {})
    assert "anthropic-beta" not in fake_anthropic.last.headers


@pytest.mark.parametrize("tool, model", [
    ({"type": "google_search"}, "claude-test"), ({"type": "url_context"}, "claude-test"),
    ({"type": "code_execution"}, "compat-test"), ({"type": "web_fetch_20250910", "name": "web_fetch"}, "compat-test"),
])
def test_a_server_tool_the_vendor_does_not_run_is_a_clear_400(openai_client, fake_anthropic, tool, model):
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                              tools=[tool])
    body = err.value.body
    assert err.value.code == "unsupported_tool" and body["param"] == "tools[0]"
    assert "is not available for model" in body["message"]
    assert fake_anthropic.requests == []


def test_responses_client_gets_claudes_citations(openai_client, fake_anthropic: FakeAnthropic):
    """Through `/v1/responses` (translated), Claude's web search citations are `url_citation`
    annotations on the output text they cite, with indexes into that part's text."""
    turn = [dict(b) for b in TURN[:4]] + [{"type": "text", "text": " Long ago."}]
    fake_anthropic.queue_turn(turn, usage=USAGE)
    raw = openai_client.responses.with_raw_response.create(
        model="claude-test", input="When was Shannon born?", tools=[{"type": "web_search"}])
    obj = orjson.loads(raw.content)
    openapi.validate_response(obj)
    assert fake_anthropic.last.json()["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
    parts = [p for item in obj["output"] if item["type"] == "message" for p in item["content"]]
    cited = [(p["text"][a["start_index"]:a["end_index"]], a["url"], a["title"])
             for p in parts for a in p["annotations"]]
    assert cited == [(CITED, WIKI, "Claude Shannon - Wikipedia")]
    assert raw.parse().output_text.startswith("Let me look that up and compute. ")


def test_streamed_citations_reach_responses_and_chat_clients(openai_client, gateway, fake_anthropic: FakeAnthropic):
    """Claude's streamed `citations_delta`s become the same `url_citation` annotations as
    unstreamed: on the Responses `output_text` (done events and the final Response), and as an
    `annotations` delta for Chat Completions clients, over the cited block's text."""
    import httpx
    from anthropic_helpers import GATEWAY_KEY

    turn = [dict(b) for b in TURN[:4]] + [{"type": "text", "text": " Long ago."}]
    fake_anthropic.queue_turn([dict(b) for b in turn], usage=USAGE)
    r = httpx.post(gateway.openai_base_url + "/responses", timeout=30, headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
                   json={"model": "claude-test", "input": "When was Shannon born?", "stream": True,
                         "tools": [{"type": "web_search"}]})
    events = openapi.validate_response_stream(r.content)
    final = events[-1]["response"]
    parts = [p for item in final["output"] if item["type"] == "message" for p in item["content"]]
    cited = [(p["text"][a["start_index"]:a["end_index"]], a["url"]) for p in parts for a in p["annotations"]]
    assert cited == [(CITED, WIKI)]
    done = [e["part"]["annotations"] for e in events if e["type"] == "response.content_part.done"]
    assert [a["url"] for notes in done for a in notes] == [WIKI]

    fake_anthropic.queue_turn([dict(b) for b in turn], usage=USAGE)
    chunks = list(openai_client.chat.completions.create(
        model="claude-test", messages=[{"role": "user", "content": "When was Shannon born?"}],
        tools=[{"type": "web_search"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    notes = [n for c in chunks if c.choices for n in (c.choices[0].delta.model_extra or {}).get("annotations") or ()]
    assert [(text[n["url_citation"]["start_index"]:n["url_citation"]["end_index"]], n["url_citation"]["url"])
            for n in notes] == [(CITED, WIKI)]
