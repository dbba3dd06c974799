"""Web search as a tool (relayport.search_tool): a model whose vendor cannot search gets the
results of the configured search service (Serper, faked), and the answer carries citations.

DeepSeek (no web search of its own) is played by the fake OpenAI-compatible vendor.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from relayport.config import ConfigError, parse_config
from relayport.plugins import load_plugins
from relayport.server.app import create_app
from relayport_serper.testing import FakeSerper

GW_KEY = "sk-gw-search"
ANSWER = "Paris is the capital of France [1]. It has about two million people [2]."


@pytest.fixture
def serper() -> Iterator[FakeSerper]:
    fake = FakeSerper()
    fake.start()
    yield fake
    fake.stop()


def _gateway(relayport_gateway, fake_openai, serper, as_tool: bool = True, provider: str = "deepseek"):
    return relayport_gateway({
        "auth": {"keys": [GW_KEY]},
        "models": [{"name": "plain", "provider": provider, "model": "deepseek-chat",
                    "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}],
        "services": {"serper": {"base_url": serper.url, "api_key": serper.api_key}},
        "search": {"service": "serper", "as_tool": as_tool, "results": 2},
    }, env={})


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)


def _system_text(sent: dict) -> str:
    return next(m["content"] for m in sent["messages"] if m["role"] == "system")


def test_chat_round_trip_gives_results_to_the_model_and_cites_them(relayport_gateway, fake_openai, serper):
    gw = _gateway(relayport_gateway, fake_openai, serper)
    fake_openai.queue_text(ANSWER)
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="plain", messages=[{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "capital of France"}],
        extra_body={"enable_search": True})
    answer = raw.parse()
    # The search ran on the user's words, through Serper with the server's key.
    assert serper.last.path == "/search" and serper.last.json() == {"q": "capital of France", "num": 2}
    sent = fake_openai.requests[-1].json()
    assert "enable_search" not in sent
    assert [m["role"] for m in sent["messages"]] == ["system", "system", "user"]
    results = sent["messages"][1]["content"]
    assert "[1] capital of France result 1 (https://example.com/capital-of-france/1)" in results
    assert "[2] capital of France result 2" in results and "[3]" not in results
    # The answer cites them: OpenAI's url_citation annotations at the markers.
    message = answer.choices[0].message
    assert message.content == ANSWER
    notes = message.annotations
    assert [(a.type, a.url_citation.url) for a in notes] == [
        ("url_citation", "https://example.com/capital-of-france/1"),
        ("url_citation", "https://example.com/capital-of-france/2")]
    first = notes[0].url_citation
    assert ANSWER[first.start_index:first.end_index] == "[1]"
    assert "enable_search answered with 2 serper results" in raw.headers["x-relayport-adjustments"]


def test_streamed_answer_gets_its_annotations_before_the_finish(relayport_gateway, fake_openai, serper):
    gw = _gateway(relayport_gateway, fake_openai, serper)
    fake_openai.queue_text(ANSWER)
    stream = _client(gw).chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "capital of France"}], stream=True,
        extra_body={"enable_search": True})
    text, notes = "", []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        extra = (delta.model_extra or {}).get("annotations")
        if extra:
            notes = extra
        if chunk.choices[0].finish_reason:
            assert notes, "annotations come before the finishing chunk"
    assert text == ANSWER
    spans = [(n["url_citation"]["start_index"], n["url_citation"]["end_index"]) for n in notes]
    assert [text[a:b] for a, b in spans] == ["[1]", "[2]"]
    assert "enable_search" not in fake_openai.requests[-1].json()


def test_responses_web_search_tool_on_a_vendor_without_search(relayport_gateway, fake_openai, serper):
    gw = _gateway(relayport_gateway, fake_openai, serper)
    client = _client(gw)
    fake_openai.queue_text(ANSWER)
    resp = client.responses.create(model="plain", input="capital of France", tools=[{"type": "web_search"}])
    part = resp.output[-1].content[0]
    assert part.text == ANSWER
    assert [(a.type, a.url, part.text[a.start_index:a.end_index]) for a in part.annotations] == [
        ("url_citation", "https://example.com/capital-of-france/1", "[1]"),
        ("url_citation", "https://example.com/capital-of-france/2", "[2]")]
    assert "Web search results for: capital of France" in _system_text(fake_openai.requests[-1].json())
    fake_openai.queue_text(ANSWER)
    with client.responses.stream(model="plain", input="capital of France",
                                 tools=[{"type": "web_search"}]) as events:
        final = events.get_final_response()
    streamed = final.output[-1].content[0]
    assert [a.url for a in streamed.annotations] == [a.url for a in part.annotations]


def test_switch_off_ignores_and_announces(relayport_gateway, fake_openai, serper):
    gw = _gateway(relayport_gateway, fake_openai, serper, as_tool=False)
    client = _client(gw)
    for stream in (False, True):
        raw = client.chat.completions.with_raw_response.create(
            model="plain", messages=[{"role": "user", "content": "hi"}], stream=stream,
            extra_body={"enable_search": True})
        assert "enable_search ignored (no web search for this model)" in raw.headers["x-relayport-adjustments"]
        assert "enable_search" not in fake_openai.requests[-1].json()
    # Responses keeps its clear 400 for a web_search tool nobody can run.
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="plain", input="hi", tools=[{"type": "web_search"}])
    assert err.value.code == "unsupported_tool"
    assert serper.requests == []


def test_a_failed_search_still_answers_and_says_why(relayport_gateway, fake_openai, serper):
    gw = relayport_gateway({
        "auth": {"keys": [GW_KEY]},
        "models": [{"name": "plain", "provider": "deepseek", "base_url": fake_openai.base_url,
                    "api_key": fake_openai.api_key}],
        "services": {"serper": {"base_url": serper.url, "api_key": "revoked"}},
        "search": {"service": "serper", "as_tool": True},
    }, env={})
    fake_openai.queue_text("I could not look that up.")
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="plain", messages=[{"role": "user", "content": "news today"}], extra_body={"enable_search": True})
    assert raw.parse().choices[0].message.content == "I could not look that up."
    assert raw.parse().choices[0].message.annotations == []
    assert "web search failed (403); answered without it" in raw.headers["x-relayport-adjustments"]
    assert all(m["role"] != "system" for m in fake_openai.requests[-1].json()["messages"])


def test_vendor_with_its_own_search_is_left_to_it(relayport_gateway, fake_openai, serper):
    gw = _gateway(relayport_gateway, fake_openai, serper, provider="dashscope")
    _client(gw).chat.completions.create(model="plain", messages=[{"role": "user", "content": "hi"}],
                                        extra_body={"enable_search": True})
    assert fake_openai.requests[-1].json()["enable_search"] is True
    assert serper.requests == []


def test_http_client_without_sdk_and_with_openai_web_search_options(relayport_gateway, fake_openai, serper):
    gw = _gateway(relayport_gateway, fake_openai, serper)
    fake_openai.queue_text("See [1].")
    r = httpx.post(gw.openai_base_url + "/chat/completions", headers=gw.headers(), json={
        "model": "plain", "messages": [{"role": "user", "content": "weather"}], "web_search_options": {}})
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["annotations"][0]["url_citation"]["url"] == \
        "https://example.com/weather/1"
    assert "web_search_options" not in fake_openai.requests[-1].json()


def test_config_names_an_installed_search_service():
    cfg = parse_config({"search": {"service": "nosuch", "as_tool": True}})
    with pytest.raises(ConfigError, match="not an installed search service"):
        create_app(cfg, plugins=load_plugins({}), env={})
    with pytest.raises(ConfigError, match="needs search.service"):
        parse_config({"search": {"as_tool": True}})


def test_background_response_with_web_search_is_cited_like_a_foreground_one(relayport_gateway, fake_openai, serper):
    import time

    gw = _gateway(relayport_gateway, fake_openai, serper)
    client = _client(gw)
    fake_openai.queue_text(ANSWER, delay=0.2)
    queued = client.responses.create(model="plain", input="capital of France", tools=[{"type": "web_search"}],
                                     background=True)
    assert queued.status == "queued"
    deadline = time.monotonic() + 10
    while (done := client.responses.retrieve(queued.id)).status != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    part = done.output[-1].content[0]
    assert part.text == ANSWER
    assert [(a.type, a.url, part.text[a.start_index:a.end_index]) for a in part.annotations] == [
        ("url_citation", "https://example.com/capital-of-france/1", "[1]"),
        ("url_citation", "https://example.com/capital-of-france/2", "[2]")]
    assert "Web search results for: capital of France" in _system_text(fake_openai.requests[-1].json())


def test_resumed_background_response_keeps_its_search_results(relayport_gateway, fake_openai, serper, tmp_path):
    """A background response left by a stopping gateway runs again in the next one with the
    results the model was first given (no second search), and is cited from them."""
    import time

    from relayport.testing.fakes import Reply

    state = {"server": {"state_path": str(tmp_path / "state.sqlite3")}}
    config = {**state, "auth": {"keys": [GW_KEY]},
              "models": [{"name": "plain", "provider": "deepseek", "model": "deepseek-chat",
                          "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}],
              "services": {"serper": {"base_url": serper.url, "api_key": serper.api_key}},
              "search": {"service": "serper", "as_tool": True, "results": 2}}
    first = relayport_gateway(config, env={})
    fake_openai.push(Reply(hang=True))
    queued = _client(first).responses.create(model="plain", input="capital of France",
                                             tools=[{"type": "web_search"}], background=True)
    while len(fake_openai.requests) < 1:
        time.sleep(0.02)
    first.stop()
    searches = len(serper.requests)

    fake_openai.queue_text(ANSWER)
    client = _client(relayport_gateway(config, env={}))
    deadline = time.monotonic() + 10
    while (done := client.responses.retrieve(queued.id)).status != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.status == "completed" and len(serper.requests) == searches
    assert [a.url for a in done.output[-1].content[0].annotations] == [
        "https://example.com/capital-of-france/1", "https://example.com/capital-of-france/2"]
    first_sent, again = (r.json() for r in fake_openai.requests[-2:])
    assert again == first_sent  # the same request: results, no search flag or tool the vendor lacks
    assert "Web search results for: capital of France" in _system_text(again)
