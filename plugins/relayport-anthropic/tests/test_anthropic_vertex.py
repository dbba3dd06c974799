"""Claude on Vertex AI (`provider = "vertex-anthropic"`) end to end: the anthropic and openai SDKs
-> the gateway -> a fake Vertex endpoint that takes only OAuth tokens a fake Google token endpoint
issued from a service-account key, in Vertex's URL and body spelling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from anthropic_helpers import GATEWAY_KEY

from relayport.provider import Deployment
from relayport.secrets import Secret
from relayport.testing.fakes import Reply
from relayport.testing.google_oauth import FakeGoogleOAuth
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport.wire import openai_chat
from relayport_anthropic import vertex
from relayport_anthropic.fake_vertex import FakeVertexClaude

PROJECT, LOCATION = "claude-project", "us-east5"
MODEL = "claude-sonnet-4-5@20250929"
PREFIX = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/anthropic/models"
MSG = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def oauth() -> Iterator[FakeGoogleOAuth]:
    fake = FakeGoogleOAuth().start()
    yield fake
    fake.stop()


@pytest.fixture
def claude(oauth: FakeGoogleOAuth) -> Iterator[FakeVertexClaude]:
    fake = FakeVertexClaude(oauth, PROJECT, LOCATION).start()
    yield fake
    fake.stop()


@pytest.fixture
def gw(claude: FakeVertexClaude, oauth: FakeGoogleOAuth, tmp_path: Path) -> Iterator[GatewayHandle]:
    key_file = oauth.service_account_file(tmp_path, project="not-this-one")
    model = {"name": "vclaude", "provider": "vertex-anthropic", "model": MODEL, "base_url": claude.base_url,
             "options": {"project": PROJECT, "location": LOCATION, "credentials_file": key_file}}
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                            "models": [model]}, env={"RELAYPORT_LOAD_PLUGINS": "anthropic"})
    yield handle
    handle.stop()


def ant(gw: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)


def oai(gw: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


def test_anthropic_sdk_message_in_vertex_spelling(gw, claude, oauth):
    msg = ant(gw).messages.create(model="vclaude", max_tokens=100, messages=MSG, system="be brief",
                                  extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    assert msg.content[0].text == "echo: hello there"
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens > 0
    sent = claude.last
    assert sent.path == f"{PREFIX}/{MODEL}:rawPredict"
    body = sent.json()
    assert body["anthropic_version"] == "vertex-2023-10-16" and "model" not in body
    assert body["system"] == "be brief" and body["max_tokens"] == 100
    assert oauth.accepts(sent.headers["authorization"]) and "x-api-key" not in sent.headers
    assert sent.headers["anthropic-beta"] == "context-1m-2025-08-07"  # the client's betas ride along
    assert "anthropic-version" not in sent.headers  # the version is in the body on Vertex
    assert oauth.issued == 1


def test_anthropic_sdk_stream(gw, claude):
    claude.queue_turn([{"type": "thinking", "thinking": "let me see"}, {"type": "text", "text": "two words"}])
    with ant(gw).messages.stream(model="vclaude", max_tokens=2048, messages=MSG,
                                 thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "two words"
    assert final.content[0].type == "thinking" and final.content[0].thinking == "let me see"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert claude.last.path == f"{PREFIX}/{MODEL}:streamRawPredict"
    assert claude.last.json()["stream"] is True


def test_anthropic_sdk_count_tokens(gw, claude):
    count = ant(gw).messages.count_tokens(model="vclaude", messages=MSG)
    assert count.input_tokens > 0
    assert claude.last.path == f"{PREFIX}/count-tokens:rawPredict"
    assert claude.last.json()["model"] == MODEL  # count-tokens keeps the model in the body


def test_responses_input_tokens_are_counted_by_claude_on_vertex(gw, claude):
    count = oai(gw).responses.input_tokens.count(model="vclaude", input="hello there", instructions="be brief")
    assert count.input_tokens > 0
    sent = claude.last
    assert sent.path == f"{PREFIX}/count-tokens:rawPredict"
    body = sent.json()
    assert body["model"] == MODEL and body["anthropic_version"] == "vertex-2023-10-16"
    assert body["system"][0]["text"] == "be brief" and "max_tokens" not in body and "stream" not in body


def test_openai_sdk_is_translated(gw, claude):
    resp = oai(gw).chat.completions.create(model="vclaude", messages=[{"role": "system", "content": "sys"}, *MSG],
                                           max_tokens=50)
    assert resp.choices[0].message.content == "echo: hello there" and resp.choices[0].finish_reason == "stop"
    body = claude.last.json()
    assert claude.last.path == f"{PREFIX}/{MODEL}:rawPredict"
    assert body["system"] == [{"type": "text", "text": "sys"}] and body["max_tokens"] == 50 and "model" not in body
    chunks = list(oai(gw).chat.completions.create(model="vclaude", messages=MSG, stream=True,
                                                  stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    assert chunks[-1].usage.prompt_tokens > 0
    assert claude.last.path.endswith(":streamRawPredict")


def test_openai_tool_call(gw, claude):
    claude.queue_text(tool_calls=[{"id": "toolu_01", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}])
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}]
    resp = oai(gw).chat.completions.create(model="vclaude", messages=MSG, tools=tools)
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup" and orjson.loads(call.function.arguments) == {"q": "x"}
    assert claude.last.json()["tools"][0]["name"] == "lookup"


def test_models_own_refusal_keeps_anthropics_envelope(gw, claude):
    with pytest.raises(anthropic.BadRequestError) as err:  # the fake refuses temperature > 1 as Claude does
        ant(gw).messages.create(model="vclaude", max_tokens=10, messages=MSG,
                                extra_body={"temperature": 1.5})
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert "temperature" in err.value.body["error"]["message"]


def test_vertex_refusal_in_googles_envelope(gw, claude):
    claude.push(Reply.json({"error": {"code": 429, "message": "Quota exceeded for aiplatform.googleapis.com/"
                                      "online_prediction_requests_per_base_model.", "status": "RESOURCE_EXHAUSTED"}}, 429))
    with pytest.raises(openai.RateLimitError) as err:
        oai(gw).chat.completions.create(model="vclaude", messages=MSG)
    assert "Quota exceeded" in err.value.message and err.value.code == "RESOURCE_EXHAUSTED"
    claude.push(Reply.json({"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}}, 429))
    with pytest.raises(anthropic.RateLimitError) as aerr:
        ant(gw).messages.create(model="vclaude", max_tokens=10, messages=MSG)
    assert aerr.value.body["error"] == {"type": "rate_limit_error", "message": "Quota exceeded."}


def test_401_mid_life_refreshes_once_and_retries(gw, claude, oauth):
    client = ant(gw)
    client.messages.create(model="vclaude", max_tokens=10, messages=MSG)
    oauth.revoke_all()
    with client.messages.stream(model="vclaude", max_tokens=10, messages=MSG) as stream:
        assert "".join(stream.text_stream) == "echo: hello there"
    assert oauth.issued == 2 and claude.rejected == 1 and len(claude.requests) == 3


def test_missing_credentials_library_is_a_clear_error(claude, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "google.auth", None)  # google-auth not installed
    model = {"name": "vclaude", "provider": "vertex-anthropic", "model": MODEL, "base_url": claude.base_url,
             "options": {"project": PROJECT, "location": LOCATION}}
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                            "models": [model]}, env={"RELAYPORT_LOAD_PLUGINS": "anthropic"})
    try:
        with pytest.raises(anthropic.InternalServerError) as err:
            ant(handle).messages.create(model="vclaude", max_tokens=10, messages=MSG)
    finally:
        handle.stop()
    assert "relayport[gcp]" in err.value.message and not claude.requests


def test_request_for_the_global_location():
    dep = Deployment(name="c", provider=vertex.VERTEX, model=MODEL, base_url=vertex.VERTEX.base_url,
                     api_key=Secret("ya29.t"), hooks=None, options={"project": "p", "location": "global"})
    up = vertex.build_request(dep, openai_chat.decode_request({"model": "c", "messages": MSG, "stream": True}))
    assert up.url == f"https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/anthropic/models/{MODEL}:streamRawPredict"
    assert up.headers["Authorization"] == "Bearer ya29.t"
    body: dict[str, Any] = orjson.loads(up.body or b"")
    assert body["anthropic_version"] == "vertex-2023-10-16" and body["stream"] is True and "model" not in body
