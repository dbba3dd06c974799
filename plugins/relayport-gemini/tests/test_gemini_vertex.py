"""Gemini on Vertex AI (`provider = "vertex"`) end to end: the openai and google-genai SDKs ->
the gateway -> a fake Vertex endpoint that takes only OAuth tokens a fake Google token endpoint
issued from a service-account key (the JWT checked with the key's public half)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from gemini_helpers import GATEWAY_KEY
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from relayport import credentials
from relayport.provider import Deployment
from relayport.secrets import Secret
from relayport.testing.google_oauth import FakeGoogleOAuth
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_gemini import egress
from relayport_gemini.fake_vertex import FakeVertexGemini
from relayport_gemini.testing import rate_limited
from relayport_gemini.vertex import VERTEX

PROJECT, LOCATION = "test-project", "us-central1"
PREFIX = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models"
MSG = [{"role": "user", "content": "hello there"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


class FakeClock:
    def __init__(self) -> None:
        import time
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(credentials, "clock", c)
    return c


@pytest.fixture
def oauth(clock: FakeClock) -> Iterator[FakeGoogleOAuth]:
    fake = FakeGoogleOAuth(lifetime=3600, clock=clock).start()
    yield fake
    fake.stop()


@pytest.fixture
def vertex(oauth: FakeGoogleOAuth) -> Iterator[FakeVertexGemini]:
    fake = FakeVertexGemini(oauth, PROJECT, LOCATION).start()
    yield fake
    fake.stop()


def start(vertex: FakeVertexGemini, **model: Any) -> GatewayHandle:
    entry: dict[str, Any] = {"name": "vgem", "provider": "vertex", "model": "gemini-2.5-flash",
                             "base_url": vertex.base_url, **model}
    return start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                          "models": [entry]}, env={"RELAYPORT_LOAD_PLUGINS": "gemini"})


@pytest.fixture
def gw(vertex: FakeVertexGemini, oauth: FakeGoogleOAuth, tmp_path: Path) -> Iterator[GatewayHandle]:
    key_file = oauth.service_account_file(tmp_path, project=PROJECT)
    handle = start(vertex, options={"location": LOCATION, "credentials_file": key_file,
                                    "labels": {"team": "search"}})  # the project comes from the key file
    yield handle
    handle.stop()


def oai(gw: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)


def test_openai_chat_reaches_vertex_with_a_service_account_token(gw, vertex, oauth):
    resp = oai(gw).chat.completions.create(model="vgem", messages=MSG, max_tokens=64, temperature=0.3)
    assert resp.choices[0].message.content == "echo: hello there"
    assert resp.choices[0].finish_reason == "stop" and resp.usage.prompt_tokens > 0
    sent = vertex.last
    assert sent.path == f"{PREFIX}/gemini-2.5-flash:generateContent"
    assert oauth.accepts(sent.headers["authorization"]) and "x-goog-api-key" not in sent.headers
    body = sent.json()
    assert body["labels"] == {"team": "search"}
    assert body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 64}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]
    assert oauth.issued == 1 and oauth.refused == []


def test_openai_stream_and_token_reuse(gw, vertex, oauth):
    client = oai(gw)
    chunks = list(client.chat.completions.create(model="vgem", messages=MSG, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 3
    assert vertex.last.path == f"{PREFIX}/gemini-2.5-flash:streamGenerateContent"
    assert vertex.last.query == {"alt": "sse"}
    client.chat.completions.create(model="vgem", messages=MSG)
    assert oauth.issued == 1  # one token for both calls


def test_openai_tool_call_round_trip(gw, vertex):
    vertex.queue_turn([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}])
    client = oai(gw)
    first = client.chat.completions.create(model="vgem", messages=MSG, tools=TOOLS, tool_choice="required")
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and orjson.loads(call.function.arguments) == {"city": "Paris"}
    sent = vertex.last.json()
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    history = [*MSG, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
               {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    vertex.queue_text("It is sunny.")
    second = client.chat.completions.create(model="vgem", messages=history, tools=TOOLS)
    assert second.choices[0].message.content == "It is sunny."
    contents = vertex.last.json()["contents"]
    assert contents[1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                                           "response": {"result": "sunny"}}}]}


def genai_client(gw: GatewayHandle) -> genai.Client:
    return genai.Client(api_key=GATEWAY_KEY, http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta"))


def test_google_genai_sdk_passes_through_to_vertex(gw, vertex, oauth):
    c = genai_client(gw)
    resp = c.models.generate_content(model="vgem", contents="hello there",
                                     config=types.GenerateContentConfig(temperature=0.2, labels={"run": "a"}))
    assert resp.text == "echo: hello there"
    sent = vertex.last
    assert sent.path == f"{PREFIX}/gemini-2.5-flash:generateContent"
    assert sent.json()["generationConfig"] == {"temperature": 0.2}
    assert sent.json()["labels"] == {"team": "search", "run": "a"}  # the client's and the operator's
    assert GATEWAY_KEY not in str(sent.headers) and oauth.accepts(sent.headers["authorization"])
    chunks = list(c.models.generate_content_stream(model="vgem", contents="one two"))
    assert "".join(ch.text or "" for ch in chunks) == "echo: one two"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert vertex.last.path.endswith(":streamGenerateContent") and vertex.last.query == {"alt": "sse"}
    # countTokens: Vertex takes the request's fields at the top level.
    assert c.models.count_tokens(model="vgem", contents="a b c").total_tokens == 6
    assert "generateContentRequest" not in vertex.last.json()


def test_vertex_errors_keep_googles_envelope_and_status(gw, vertex):
    vertex.push(rate_limited("7s"))
    with pytest.raises(openai.RateLimitError) as err:
        oai(gw).chat.completions.create(model="vgem", messages=MSG)
    assert err.value.response.headers["retry-after"] == "7"
    vertex.push(rate_limited("7s"))
    c = genai_client(gw)  # kept: a client collected mid-call closes its connection pool
    with pytest.raises(genai_errors.ClientError) as gerr:
        c.models.generate_content(model="vgem", contents="hi")
    assert gerr.value.code == 429 and gerr.value.status == "RESOURCE_EXHAUSTED"


def test_401_mid_life_refreshes_once_and_retries(gw, vertex, oauth):
    client = oai(gw)
    client.chat.completions.create(model="vgem", messages=MSG)
    oauth.revoke_all()  # revoked before its expiry: Vertex answers 401 UNAUTHENTICATED
    chunks = list(client.chat.completions.create(model="vgem", messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    assert oauth.issued == 2 and vertex.rejected == 1
    assert len(vertex.requests) == 3  # the first call, the rejected one, its retry


def test_401_after_the_refresh_reaches_the_client(gw, vertex, oauth, monkeypatch):
    oai(gw).chat.completions.create(model="vgem", messages=MSG)
    monkeypatch.setattr(oauth, "accepts", lambda authorization: False)  # Vertex takes no token now
    with pytest.raises(openai.AuthenticationError) as err:
        oai(gw).chat.completions.create(model="vgem", messages=MSG)
    assert "invalid authentication credentials" in err.value.message
    assert "secretvalue" not in str(err.value.body)
    assert oauth.issued == 2 and vertex.rejected == 2  # one refresh, one retry, then the client's 401


async def _post_many(gw: GatewayHandle, n: int, on_progress: Any) -> list[int]:
    body = orjson.dumps({"model": "vgem", "messages": MSG})
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as s:
        async def one() -> int:
            nonlocal done
            async with s.post(gw.openai_base_url + "/chat/completions", data=body, headers=headers) as r:
                await r.read()
            done += 1
            on_progress(done)
            return r.status

        return list(await asyncio.gather(*(one() for _ in range(n))))


def test_thousand_concurrent_calls_across_an_expiry_refresh_once(gw, vertex, oauth, clock):
    oai(gw).chat.completions.create(model="vgem", messages=MSG)
    assert oauth.issued == 1

    def progress(done: int) -> None:
        if done == 300:  # the token is now within a minute of its expiry
            clock.now += 3600 - 30

    statuses = asyncio.run(_post_many(gw, 1000, progress))
    assert statuses == [200] * 1000
    assert oauth.issued == 2  # exactly one refresh for every call that found the token stale
    assert vertex.rejected == 0  # replaced before it expired: Vertex never saw a stale token
    assert len({r.headers["authorization"] for r in vertex.requests}) == 2


def test_plain_access_token_is_sent_as_is(vertex, oauth):
    oauth.valid["ya29.from-gcloud"] = oauth.clock() + 600
    handle = start(vertex, api_key="ya29.from-gcloud", options={"project": PROJECT, "location": LOCATION})
    try:
        assert oai(handle).chat.completions.create(model="vgem", messages=MSG).choices[0].message.content
    finally:
        handle.stop()
    assert vertex.last.headers["authorization"] == "Bearer ya29.from-gcloud"
    assert oauth.issued == 0  # no token endpoint involved


def test_token_endpoint_refusal_is_a_clear_502_without_secrets(vertex, oauth, tmp_path):
    key_file = oauth.service_account_file(tmp_path)
    info = orjson.loads(Path(key_file).read_bytes())
    Path(key_file).write_bytes(orjson.dumps({**info, "client_email": "someone-else@x.iam.gserviceaccount.com"}))
    handle = start(vertex, options={"project": PROJECT, "location": LOCATION, "credentials_file": key_file})
    try:
        with pytest.raises(openai.APIStatusError) as err:
            oai(handle).chat.completions.create(model="vgem", messages=MSG)
    finally:
        handle.stop()
    assert err.value.status_code == 502 and err.value.code == "upstream_credentials"
    assert "PRIVATE KEY" not in str(err.value.body) and oauth.refused == ["Invalid issuer"]
    assert not vertex.requests


def test_missing_project_is_a_clear_error(vertex, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    handle = start(vertex, api_key="ya29.x", options={"location": LOCATION})
    try:
        with pytest.raises(openai.InternalServerError) as err:
            oai(handle).chat.completions.create(model="vgem", messages=MSG)
    finally:
        handle.stop()
    assert "options.project" in err.value.message and not vertex.requests


def _dep(**options: Any) -> Deployment:
    return Deployment(name="v", provider=VERTEX, model="gemini-2.5-pro", base_url=VERTEX.base_url,
                      api_key=Secret("t"), hooks=None, options={"project": "p-1", **options})


@pytest.mark.parametrize(("location", "url"), [
    ("global", "https://aiplatform.googleapis.com/v1/projects/p-1/locations/global/publishers/google/models/"
               "gemini-2.5-pro:streamGenerateContent?alt=sse"),
    ("europe-west4", "https://europe-west4-aiplatform.googleapis.com/v1/projects/p-1/locations/europe-west4/"
                     "publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
])
def test_vertex_urls_by_location(location, url):
    assert egress.model_path(_dep(location=location), "streamGenerateContent", stream=True) == url
    headers = egress.request_headers(_dep(location=location))
    assert headers["Authorization"] == "Bearer t" and "x-goog-api-key" not in headers
