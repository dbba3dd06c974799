"""relayport-azure against a fake Azure OpenAI resource, driven with the openai SDK."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

import attrs
import openai
import orjson
import pytest
from aiohttp import web

import relayport_azure
from relayport import credentials
from relayport.server import keys
from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

KEY = "azure-key-do-not-leak"
TOKEN = "entra-token-do-not-leak"
FILTER_OK = {c: {"filtered": False, "severity": "safe"} for c in ("hate", "self_harm", "sexual", "violence")}


class FakeAzure(FakeOpenAI):
    """Azure OpenAI's wire format: its two URL shapes, `api-key` or Entra bearer auth, filter
    results on every answer and its content-filter error."""

    def __init__(self, api_key: str | None = KEY, token: str | None = None) -> None:
        super().__init__(api_key=api_key)  # the conformance suite sets `api_key` to its key
        self.token = token

    @property
    def base_url(self) -> str:
        return self.url  # the resource endpoint

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        key, bearer = rec.headers.get("api-key"), rec.headers.get("authorization")
        if not ((self.api_key and key == self.api_key) or (self.token and bearer == f"Bearer {self.token}")):
            return await self.play(request, Reply.json({"error": {
                "code": "401", "message": "Access denied due to invalid subscription key or wrong API "
                "endpoint."}}, status=401))
        parts = rec.path.strip("/").split("/")
        v1 = rec.path == "/openai/v1/chat/completions" and rec.query.get("api-version", "preview") in (
            "preview", "latest")
        dated = parts[:2] == ["openai", "deployments"] and parts[3:] == ["chat", "completions"]
        if not (v1 or (dated and rec.query.get("api-version"))):
            return await self.play(request, Reply.json(
                {"error": {"code": "404", "message": "Resource not found"}}, status=404))
        text = orjson.dumps(orjson.loads(rec.body)["messages"]).decode()
        if "FILTERME" in text:
            return await self.play(request, Reply.json({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                "content management policy.", "type": None, "param": "prompt", "code": "content_filter",
                "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                    **FILTER_OK, "violence": {"filtered": True, "severity": "medium"}}}}}, status=400))
        # Authorized the Azure way: the OpenAI answer logic below checks its own header.
        openai_auth = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return await super()._answer(request, attrs.evolve(rec, headers={**rec.headers, **openai_auth}))

    def _completion(self, body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
        out = super()._completion(body, turn)
        out["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": FILTER_OK}]
        out["choices"][0]["content_filter_results"] = FILTER_OK
        return out

    def _stream_reply(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        reply = super()._stream_reply(body, turn)
        first = {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                 "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTER_OK}]}
        events = [b"data: " + orjson.dumps(first) + b"\n\n"]
        for ev in reply.events or []:
            if ev.startswith(b"data: {"):
                obj = orjson.loads(ev[6:])
                for choice in obj["choices"]:
                    choice["content_filter_results"] = FILTER_OK if choice["delta"] else {}
                ev = b"data: " + orjson.dumps(obj) + b"\n\n"
            events.append(ev)
        reply.events = events
        return reply


class TestAzureConformance(ProviderConformance):
    provider = "azure"
    entry_point = "azure"
    model = "my-gpt4o"
    auth_header = "api-key"
    auth_format = "{key}"

    def make_fake(self) -> FakeAzure:
        return FakeAzure()


@pytest.fixture
def azure() -> Iterator[FakeAzure]:
    fake = FakeAzure(token=TOKEN)
    fake.start()
    yield fake
    fake.stop()


def gateway(relayport_gateway: Any, fake: FakeAzure, key: str | None = KEY, **options: Any) -> Any:
    model: dict[str, Any] = {"name": "gpt", "provider": "azure", "model": "my-gpt4o",
                             "base_url": fake.base_url, "options": options}
    if key:
        model["api_key"] = key
    return relayport_gateway({"models": [model]}, env={})


def client(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0)


MSG = [{"role": "user", "content": "hello there"}]


def test_v1_api_non_stream(relayport_gateway, azure):
    gw = gateway(relayport_gateway, azure)
    raw = client(gw).chat.completions.with_raw_response.create(model="gpt", messages=MSG, max_tokens=50)
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["message"]["content"] == "echo: hello there"
    assert body["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False
    sent = azure.last
    assert sent.path == "/openai/v1/chat/completions" and sent.query == {}
    assert sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert sent.json()["model"] == "my-gpt4o"  # the deployment name
    assert sent.json()["max_completion_tokens"] == 50


def test_v1_preview_channel(relayport_gateway, azure):
    gw = gateway(relayport_gateway, azure, api_version="preview")
    assert client(gw).chat.completions.create(model="gpt", messages=MSG).choices[0].message.content
    assert (azure.last.path, azure.last.query) == ("/openai/v1/chat/completions", {"api-version": "preview"})


def test_dated_deployments_api_stream(relayport_gateway, azure):
    gw = gateway(relayport_gateway, azure, api_version="2024-10-21")
    chunks = list(client(gw).chat.completions.create(
        model="gpt", messages=MSG, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    assert chunks[0].choices == [] and chunks[0].prompt_filter_results  # Azure's extra rides along
    assert chunks[0].object == "chat.completion.chunk" and chunks[0].id  # Azure sends "" for both
    assert chunks[1].choices[0].content_filter_results["hate"]["filtered"] is False
    assert chunks[-1].usage.completion_tokens == 7
    sent = azure.last
    assert sent.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}


@pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "translated"])
def test_completion_stopped_by_the_filter(relayport_gateway, azure, passthrough):
    gw = gateway(relayport_gateway, azure, passthrough=passthrough)
    azure.queue_text("partial", finish_reason="content_filter")
    assert client(gw).chat.completions.create(model="gpt", messages=MSG).choices[0].finish_reason == "content_filter"
    azure.queue_text("partial answer", finish_reason="content_filter")
    chunks = list(client(gw).chat.completions.create(model="gpt", messages=MSG, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "partial answer"


@pytest.mark.parametrize("stream", [False, True])
def test_filtered_prompt_is_a_clear_400(relayport_gateway, azure, stream):
    gw = gateway(relayport_gateway, azure)
    with pytest.raises(openai.BadRequestError) as err:
        client(gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "FILTERME"}],
                                           stream=stream)
    assert err.value.status_code == 400
    assert err.value.code == "content_filter"
    assert err.value.type == "invalid_request_error"
    assert "filtered: violence" in err.value.message
    assert len(azure.requests) == 1  # not retried: the same prompt would be filtered again


def test_wrong_key_keeps_azures_401_without_the_key(relayport_gateway, azure):
    gw = gateway(relayport_gateway, azure, key="wrong-key-do-not-leak")
    with pytest.raises(openai.AuthenticationError) as err:
        client(gw).chat.completions.create(model="gpt", messages=MSG)
    assert "Access denied" in err.value.message and "do-not-leak" not in str(err.value.body)
    assert len(azure.requests) == 1  # a static key is not refreshed: no retry


class AccessToken(NamedTuple):  # azure.core.credentials.AccessToken's shape
    token: str
    expires_on: int


class FakeTokenCredential:
    """An azure-identity async credential: `get_token(*scopes)` -> AccessToken."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def close(self) -> None:
        self.closed = True

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        import time
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


def test_entra_token_when_no_key(relayport_gateway, azure, monkeypatch):
    cred = FakeTokenCredential()
    monkeypatch.setattr(relayport_azure, "token_credential", lambda: cred)
    gw = gateway(relayport_gateway, azure, key=None)
    for stream in (False, True, False):
        resp = client(gw).chat.completions.create(model="gpt", messages=MSG, stream=stream)
        if stream:
            list(resp)
    assert [r.headers.get("authorization") for r in azure.requests] == [f"Bearer {TOKEN}"] * 3
    assert not any("api-key" in r.headers for r in azure.requests)
    assert cred.scopes == [("https://cognitiveservices.azure.com/.default",)]  # fetched once, cached
    # On shutdown the gateway closes the azure-identity credential (it holds a session).
    gw.server.call(credentials.close_all(gw.server.app[keys.ROUTER].deployments()))
    assert cred.closed


def test_entra_scope_option(relayport_gateway, azure, monkeypatch):
    cred = FakeTokenCredential()
    monkeypatch.setattr(relayport_azure, "token_credential", lambda: cred)
    gw = gateway(relayport_gateway, azure, key=None, entra_scope="https://cognitiveservices.azure.us/.default")
    client(gw).chat.completions.create(model="gpt", messages=MSG)
    assert cred.scopes == [("https://cognitiveservices.azure.us/.default",)]


def test_no_key_and_no_azure_identity_is_a_clear_error(relayport_gateway, azure, monkeypatch):
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)  # not installed
    gw = gateway(relayport_gateway, azure, key=None)
    with pytest.raises(openai.InternalServerError) as err:
        client(gw).chat.completions.create(model="gpt", messages=MSG)
    assert "relayport-azure[entra]" in err.value.message
    assert not azure.requests
