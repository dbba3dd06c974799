"""End to end: the official openai SDK's Responses API -> gateway -> fake vendors on loopback.

`ds` is DeepSeek (OpenAI-compatible, translated: DeepSeek has no Responses API), `echo-test`
the example Echo vendor (its own wire format, translated), `gpt-test` OpenAI (declares
"responses": passed through). Every Response body and every stream byte is validated against
OpenAI's published schemas.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import orjson
import pydantic
import pytest

from relayport.testing import openapi
from relayport.testing.fakes import FakeOpenAI, openai_error
from tests.fake_echo import ECHO_KEY

KEY = "sk-gw-responses"
OTHER_KEY = "sk-gw-other"
WEATHER = {"type": "function", "name": "weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def fake_ds():
    fake = FakeOpenAI(api_key="sk-ds-vendor", usage_style="deepseek").start()
    yield fake
    fake.stop()


@pytest.fixture
def gw(relayport_gateway, fake_ds, fake_openai, fake_echo):
    return relayport_gateway(
        {
            "auth": {"keys": [KEY, OTHER_KEY]},
            "models": [
                {"name": "ds", "provider": "deepseek", "model": "deepseek-reasoner",
                 "base_url": fake_ds.base_url, "api_key": fake_ds.api_key},
                {"name": "echo-test", "provider": "echo", "model": "echo-1",
                 "base_url": fake_echo.base_url, "api_key": ECHO_KEY},
                {"name": "gpt-test", "provider": "openai", "model": "gpt-5-mini",
                 "base_url": fake_openai.base_url, "api_key": fake_openai.api_key},
            ],
        },
        env={},
    )


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=KEY, max_retries=0)


def create(client: openai.OpenAI, **kwargs: Any) -> Any:
    raw = client.responses.with_raw_response.create(**kwargs)
    openapi.validate_response(orjson.loads(raw.content))
    return raw.parse()


def raw_stream(gw, **body: Any) -> list[dict[str, Any]]:
    r = httpx.post(gw.openai_base_url + "/responses", json={**body, "stream": True},
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    return openapi.validate_response_stream(r.content)


@pytest.mark.parametrize("model,said", [("ds", "echo: hello there"), ("echo-test", "you said hello there")])
def test_create_translated(client, model, said) -> None:
    r = create(client, model=model, input="hello there", instructions="be brief", metadata={"run": "1"})
    assert r.output_text == said
    assert r.status == "completed" and r.model == model and r.metadata == {"run": "1"}
    assert r.id.startswith("resp_")
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0


def test_vendor_request_and_usage_details(client, fake_ds) -> None:
    fake_ds.queue_text("ok", reasoning="Thinking it over.", usage=fake_ds.usage(100, 30, cached=64, reasoning=20))
    r = create(client, model="ds", input="q", instructions="sys", max_output_tokens=300, temperature=0.4,
               reasoning={"effort": "medium", "summary": "auto"})
    sent = fake_ds.last.json()
    assert sent["model"] == "deepseek-reasoner"
    assert sent["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}]
    assert (sent["max_tokens"], sent["temperature"]) == (300, 0.4)
    # DeepSeek's own spelling of "think, this hard".
    assert sent["thinking"] == {"type": "enabled"} and sent["reasoning_effort"] == "high"
    assert r.usage.input_tokens_details.cached_tokens == 64
    assert r.usage.output_tokens_details.reasoning_tokens == 20
    reasoning, message = r.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Thinking it over."
    assert reasoning.encrypted_content  # what replays the reasoning to the vendor
    assert message.content[0].text == "ok"


@pytest.mark.parametrize("model,said", [("ds", "echo: stream me please"), ("echo-test", "you said stream me please")])
def test_stream_raw_events_and_sdk_helper(gw, client, model, said) -> None:
    events = raw_stream(gw, model=model, input="stream me please")
    assert events[0]["type"] == "response.created" and events[1]["type"] == "response.in_progress"
    assert events[-1]["type"] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == said
    assert events[-1]["response"]["usage"]["total_tokens"] > 0
    with client.responses.stream(model=model, input="stream me please") as stream:
        kinds = [ev.type for ev in stream]
        final = stream.get_final_response()
    assert final.output_text == said and kinds[-1] == "response.completed"


def test_stream_reasoning_and_tool_call(gw, fake_ds) -> None:
    fake_ds.queue_text("", reasoning="Need the weather.", tool_calls=[
        {"id": "call_w1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Lima"}'}}])
    events = raw_stream(gw, model="ds", input="weather in Lima?", tools=[WEATHER])
    final = events[-1]["response"]
    assert [o["type"] for o in final["output"]] == ["reasoning", "function_call"]
    call = final["output"][1]
    assert (call["call_id"], call["name"], call["arguments"]) == ("call_w1", "weather", '{"city":"Lima"}')
    assert "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta") \
        == "Need the weather."
    sent = fake_ds.last.json()
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "Current weather", "parameters": WEATHER["parameters"]}}]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


def test_parse_with_pydantic_model(client, fake_ds) -> None:
    fake_ds.queue_text('{"city":"Oslo","celsius":-3}')
    r = client.responses.parse(model="ds", input="Oslo weather as JSON", text_format=Weather)
    assert r.output_parsed == Weather(city="Oslo", celsius=-3)
    # DeepSeek takes no json_schema: the base sends json_object with the schema in a system message.
    sent = fake_ds.last.json()
    assert sent["response_format"] == {"type": "json_object"}
    instruction = sent["messages"][0]
    assert instruction["role"] == "system" and '"required":["city","celsius"]' in instruction["content"]


def test_tool_loop_with_previous_response_id(client, fake_ds) -> None:
    fake_ds.queue_text("", reasoning="Look it up.", tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}])
    first = create(client, model="ds", input="Weather in Rome?", tools=[WEATHER], instructions="be brief")
    call = next(o for o in first.output if o.type == "function_call")
    fake_ds.queue_text("Sunny, 24C.")
    second = create(client, model="ds", previous_response_id=first.id, tools=[WEATHER],
                    input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"c":24}'}])
    assert second.output_text == "Sunny, 24C." and second.previous_response_id == first.id
    # The vendor got the whole conversation; instructions are not carried over (OpenAI's rule).
    assert fake_ds.last.json()["messages"] == [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": None, "reasoning_content": "Look it up.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"c":24}'},
    ]
    items = client.responses.input_items.list(second.id, order="asc")
    openapi.validate_response_items(items.model_dump(mode="json", exclude_unset=True))
    assert [i.type for i in items.data] == ["message", "reasoning", "function_call", "function_call_output"]


def test_stateless_replay_of_output_items(client, fake_ds) -> None:
    fake_ds.queue_text("Paris.", reasoning="The capital of France.")
    first = create(client, model="ds", input="Capital of France?", store=False)
    fake_ds.queue_text("About 2 million.")
    history = [{"role": "user", "content": "Capital of France?"},
               *[o.model_dump(exclude_none=True) for o in first.output],
               {"role": "user", "content": "Population?"}]
    create(client, model="ds", input=history, store=False)
    assert fake_ds.last.json()["messages"][1] == {"role": "assistant", "content": "Paris.",
                                                  "reasoning_content": "The capital of France."}
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)  # store=false keeps nothing


def test_retrieve_delete_and_key_binding(gw, client) -> None:
    r = create(client, model="echo-test", input="keep me")
    got = client.responses.with_raw_response.retrieve(r.id)
    body = orjson.loads(got.content)
    openapi.validate_response(body)
    assert body["output"][0]["content"][0]["text"] == "you said keep me"
    other = openai.OpenAI(base_url=gw.openai_base_url, api_key=OTHER_KEY, max_retries=0)
    for call in (lambda: other.responses.retrieve(r.id), lambda: other.responses.delete(r.id),
                 lambda: other.responses.input_items.list(r.id),
                 lambda: other.responses.create(model="echo-test", input="x", previous_response_id=r.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    deleted = httpx.delete(f"{gw.openai_base_url}/responses/{r.id}", headers={"Authorization": f"Bearer {KEY}"})
    assert deleted.json() == {"id": r.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.retrieve(r.id)
    openapi.validate_error(err.value.response.json())


def test_stored_responses_expire(relayport_gateway, fake_echo) -> None:
    gw = relayport_gateway({"responses": {"ttl_seconds": 2.0}, "auth": {"keys": [KEY]}, "models": [
        {"name": "echo-test", "provider": "echo", "model": "echo-1", "base_url": fake_echo.base_url,
         "api_key": ECHO_KEY}]}, env={})
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=KEY, max_retries=0)
    r = client.responses.create(model="echo-test", input="short-lived")
    assert client.responses.retrieve(r.id).id == r.id
    time.sleep(2.1)  # a TTL long enough that a loaded machine still retrieves it first
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)


def test_streamed_response_is_stored_before_it_completes(client) -> None:
    with client.responses.stream(model="ds", input="first") as stream:
        final = stream.get_final_response()
    again = create(client, model="ds", input="second", previous_response_id=final.id)
    assert again.output_text == "echo: second"
    assert client.responses.retrieve(final.id).output_text == "echo: first"


@pytest.mark.parametrize("body,status,param,code", [
    ({"model": "ds"}, 400, "input", "missing_required_parameter"),
    ({"model": "ds", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, 400,
     "input[0].content[0].type", "unsupported_content"),
    ({"model": "ds", "input": "x", "tools": [{"type": "web_search"}]}, 400, "tools", "unsupported_tool"),
    ({"model": "ds", "input": "x", "previous_response_id": "resp_nope"}, 404, "previous_response_id",
     "previous_response_not_found"),
    ({"model": "no-such-model", "input": "x"}, 404, "model", None),
])
def test_errors_in_openai_envelope(gw, body, status, param, code) -> None:
    r = httpx.post(gw.openai_base_url + "/responses", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == status, r.text
    openapi.validate_error(r.json())
    err = r.json()["error"]
    assert err["param"] == param and (code is None or err["code"] == code)
    assert "Traceback" not in r.text


def test_vendor_error_reaches_the_sdk(client, fake_ds) -> None:
    fake_ds.push(openai_error(429, "Slow down.", "rate_limit_exceeded"))
    with pytest.raises(openai.RateLimitError) as err:
        client.responses.create(model="ds", input="x")
    openapi.validate_error(err.value.response.json())


def test_broken_stream_ends_with_response_failed(gw, fake_ds) -> None:
    fake_ds.queue_text("one two three four five six", drop_after=3)
    events = raw_stream(gw, model="ds", input="x")
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"


def test_passthrough_to_a_vendor_that_speaks_responses(gw, client, fake_openai) -> None:
    raw = client.responses.with_raw_response.create(model="gpt-test", input="straight through")
    sent = fake_openai.last
    assert sent.path == "/v1/responses"
    assert sent.json() == {"model": "gpt-5-mini", "input": "straight through"}
    assert sent.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert orjson.loads(raw.content)["id"] == "resp_fake1"  # the vendor's own answer, byte for byte
    assert raw.parse().output_text == "echo: straight through"
    events = raw_stream(gw, model="gpt-test", input="streamed through")
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["id"] == "resp_fake1"
    assert fake_openai.last.json()["stream"] is True


def test_input_tokens_where_the_vendor_counts(gw, client, fake_openai) -> None:
    counted = client.responses.input_tokens.count(model="gpt-test", input="three words here")
    assert counted.input_tokens == 3
    assert fake_openai.last.path == "/v1/responses/input_tokens"
    assert fake_openai.last.json() == {"model": "gpt-5-mini", "input": "three words here"}



def test_input_tokens_estimated_where_the_vendor_cannot_count(gw, client, fake_ds) -> None:
    text = "x" * 400  # 100 tokens at 4 characters a token, plus 4 tokens of message framing
    raw = client.responses.input_tokens.with_raw_response.count(model="ds", input=text)
    openapi.validate("TokenCountsResource", orjson.loads(raw.content))
    assert raw.parse().input_tokens == 104
    assert raw.headers["x-relayport-adjustments"] == "token count estimated locally"
    assert fake_ds.requests == []  # DeepSeek has no count endpoint: nothing was sent
    tools = client.responses.input_tokens.count(model="ds", input=text, instructions="y" * 40, tools=[WEATHER])
    assert tools.input_tokens > 104 + 10 + 4
    # Bad input and unknown models are refused as a create call would refuse them.
    r = httpx.post(gw.openai_base_url + "/responses/input_tokens", headers={"Authorization": f"Bearer {KEY}"},
                   json={"model": "ds", "input": 7})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    with pytest.raises(openai.NotFoundError):
        client.responses.input_tokens.count(model="no-such-model", input="x")
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.input_tokens.count(model="ds", input="x", previous_response_id="resp_missing")
    assert err.value.response.json()["error"]["param"] == "previous_response_id"


def test_input_tokens_count_a_stored_conversation(client) -> None:
    first = create(client, model="echo-test", input="a" * 40)
    alone = client.responses.input_tokens.count(model="echo-test", input="b" * 40).input_tokens
    chained = client.responses.input_tokens.count(model="echo-test", input="b" * 40, previous_response_id=first.id)
    assert chained.input_tokens > alone + 10
    other = openai.OpenAI(base_url=client.base_url, api_key=OTHER_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):  # bound to the key that stored it
        other.responses.input_tokens.count(model="echo-test", input="b", previous_response_id=first.id)


def wait_for(client: openai.OpenAI, response_id: str, *statuses: str) -> Any:
    deadline = time.monotonic() + 10
    while True:
        raw = client.responses.with_raw_response.retrieve(response_id)
        openapi.validate_response(orjson.loads(raw.content))
        r = raw.parse()
        if r.status in statuses or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_background_response_is_polled(client, fake_ds) -> None:
    fake_ds.queue_text("Done thinking.", delay=0.3)
    queued = create(client, model="ds", input="take your time", background=True)
    assert queued.status == "queued" and queued.background is True and queued.output == []
    done = wait_for(client, queued.id, "completed")
    assert done.status == "completed" and done.output_text == "Done thinking."
    assert done.created_at == queued.created_at


def test_background_response_is_cancelled(client, fake_ds) -> None:
    from relayport.testing.fakes import Reply

    fake_ds.push(Reply(hang=True))
    queued = create(client, model="ds", input="never mind", background=True)
    wait_for(client, queued.id, "in_progress")
    raw = client.responses.with_raw_response.cancel(queued.id)
    openapi.validate_response(orjson.loads(raw.content))
    assert raw.parse().status == "cancelled"
    assert client.responses.retrieve(queued.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(create(client, model="ds", input="foreground").id)


def test_background_failure_is_recorded(client, fake_ds) -> None:
    fake_ds.push(openai_error(400, "Bad prompt."))
    queued = create(client, model="ds", input="x", background=True)
    failed = wait_for(client, queued.id, "failed")
    assert failed.error.code == "invalid_prompt" and "Bad prompt." in failed.error.message


@pytest.mark.parametrize("extra,param", [({"store": False}, "store"), ({"stream": True}, "stream")])
def test_background_needs_store_and_no_stream(gw, extra, param) -> None:
    r = httpx.post(gw.openai_base_url + "/responses", headers={"Authorization": f"Bearer {KEY}"},
                   json={"model": "ds", "input": "x", "background": True, **extra})
    assert r.status_code == 400 and r.json()["error"]["param"] == param


def test_deleting_a_running_background_response_stops_it(client, fake_ds) -> None:
    from relayport.testing.fakes import Reply

    fake_ds.push(Reply(hang=True))
    queued = create(client, model="ds", input="forget it", background=True)
    wait_for(client, queued.id, "in_progress")
    assert client.responses.delete(queued.id) is None  # the SDK returns nothing for a deletion
    time.sleep(0.2)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(queued.id)
