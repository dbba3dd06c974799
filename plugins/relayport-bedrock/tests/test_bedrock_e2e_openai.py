"""OpenAI clients to Bedrock through the gateway, signed with SigV4 (verified by the fake)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from relayport.testing.fakes import Reply
from relayport_bedrock.testing import EVENTSTREAM, FakeBedrock, event_frame, exception_frame

ACCESS, SECRET, TOKEN = "AKIDBEDROCKTEST", "bedrock/secret/EXAMPLEKEY", "session-token-never-shown"
REGION = "eu-west-3"
GW_KEY = "gw-bedrock"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's chain finds these keys (and nothing from this machine)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def vendor() -> Iterator[FakeBedrock]:
    fake = FakeBedrock(api_key=None, access_key=ACCESS, secret_key=SECRET, region=REGION)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gw(relayport_gateway: Any, vendor: FakeBedrock, aws_env: None) -> Any:
    return relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "claude", "provider": "bedrock", "model": MODEL, "base_url": vendor.base_url,
         "options": {"region": REGION}},
        {"name": "llama", "provider": "bedrock", "model": "us.meta.llama3-3-70b-instruct-v1:0",
         "base_url": vendor.base_url, "options": {"region": REGION}},
    ]}, env={})


def client(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)


def raw_stream(gw: Any, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes]:
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {GW_KEY}"},
                      json={"model": "claude", "stream": True, **body}) as r:
        assert r.status_code == 200, r.read()
        raw = r.read()
    datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    return [orjson.loads(d) for d in datas if d != b"[DONE]"], raw


def test_chat_is_signed_and_mapped_to_converse(gw: Any, vendor: FakeBedrock) -> None:
    vendor.queue_text("bonjour", usage={"inputTokens": 30, "outputTokens": 2})
    resp = client(gw).chat.completions.create(
        model="claude", max_tokens=200, temperature=0.3, top_p=0.9, stop=["END"],
        messages=[{"role": "system", "content": "be brief"}, {"role": "developer", "content": "in French"},
                  {"role": "user", "content": "hello"}])
    assert resp.choices[0].message.content == "bonjour"
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (30, 2, 32)
    assert vendor.signed == [ACCESS]  # the fake recomputed the SigV4 signature and it matched
    sent = vendor.last
    # The model id is one path segment, its colon percent-encoded as the AWS SDKs send it.
    assert sent.path == f"/model/{MODEL}/converse"
    assert sent.headers["x-amz-security-token"] == TOKEN and "authorization" in sent.headers
    body = sent.json()
    assert body["system"] == [{"text": "be brief"}, {"text": "in French"}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "hello"}]}]
    assert body["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]}


def test_stream_with_cache_usage(gw: Any, vendor: FakeBedrock) -> None:
    vendor.queue_text("one two three", usage={"inputTokens": 5, "outputTokens": 3, "cacheReadInputTokens": 100,
                                              "cacheWriteInputTokens": 20})
    stream = client(gw).chat.completions.create(model="claude", messages=[{"role": "user", "content": "count"}],
                                                stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    # Bedrock's inputTokens is the uncached part: the prompt is all three together.
    assert (usage.prompt_tokens, usage.completion_tokens) == (125, 3)
    assert usage.prompt_tokens_details.cached_tokens == 100
    assert vendor.last.path.endswith("/converse-stream") and vendor.signed == [ACCESS]


def test_tool_call_round_trip(gw: Any, vendor: FakeBedrock) -> None:
    call = {"id": "tooluse_abc", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    vendor.queue_text(tool_calls=[call])
    tools = [{"type": "function", "function": {"name": "weather", "description": "the weather",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    first = client(gw).chat.completions.create(model="llama", tools=tools, tool_choice="required",
                                               messages=[{"role": "user", "content": "weather in Paris?"}])
    assert first.choices[0].finish_reason == "tool_calls"
    got = first.choices[0].message.tool_calls[0]
    assert (got.id, got.function.name, orjson.loads(got.function.arguments)) == ("tooluse_abc", "weather", {"city": "Paris"})
    sent = vendor.last.json()["toolConfig"]
    assert sent["toolChoice"] == {"any": {}}
    assert sent["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"] == {"city": {"type": "string"}}

    vendor.queue_text("sunny")
    second = client(gw).chat.completions.create(model="llama", tools=tools, messages=[
        {"role": "user", "content": "weather in Paris?"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "tooluse_abc", "content": "22C and sunny"},
        {"role": "user", "content": "and so?"}])
    assert second.choices[0].message.content == "sunny"
    messages = vendor.last.json()["messages"]
    # The tool result and the user's next words are one user turn: Converse wants alternation.
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [{"toolUse": {"toolUseId": "tooluse_abc", "name": "weather",
                                                   "input": {"city": "Paris"}}}]
    assert messages[2]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_abc", "content": [{"text": "22C and sunny"}]}}, {"text": "and so?"}]


def test_streamed_tool_call_arrives_whole(gw: Any, vendor: FakeBedrock) -> None:
    vendor.queue_text(tool_calls=[{"id": "tooluse_1", "function": {"name": "lookup", "arguments": '{"q": "bedrock"}'}}])
    chunks, _ = raw_stream(gw, {"messages": [{"role": "user", "content": "look it up"}],
                                "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]})
    calls = [tc for c in chunks if c.get("choices") for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0]["id"] == "tooluse_1" and calls[0]["function"]["name"] == "lookup"
    assert orjson.loads("".join(tc["function"].get("arguments") or "" for tc in calls)) == {"q": "bedrock"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices") and c["choices"][0].get("finish_reason")] \
        == ["tool_calls"]


def test_claude_thinking_is_asked_for_and_comes_back(gw: Any, vendor: FakeBedrock) -> None:
    vendor.queue_text("42", reasoning="six times seven")
    resp = client(gw).chat.completions.create(model="claude", reasoning_effort="low", max_tokens=4000,
                                              messages=[{"role": "user", "content": "answer?"}])
    message = resp.choices[0].message
    assert message.content == "42" and message.model_extra["reasoning_content"] == "six times seven"
    body = vendor.last.json()
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"]["maxTokens"] == 4000


def test_image_goes_as_bytes(gw: Any, vendor: FakeBedrock) -> None:
    vendor.queue_text("a tiny image")
    client(gw).chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    content = vendor.last.json()["messages"][0]["content"]
    assert content[1] == {"image": {"format": "png", "source": {"bytes": PNG}}}


@pytest.mark.parametrize(("status", "kind", "message", "error"), [
    (429, "ThrottlingException", "Too many requests, please wait before trying again.", openai.RateLimitError),
    (400, "ValidationException", "Input is too long for requested model.", openai.BadRequestError),
    (403, "AccessDeniedException", "You don't have access to the model with the specified model ID.",
     openai.PermissionDeniedError),
    (404, "ResourceNotFoundException", "Could not resolve the foundation model.", openai.NotFoundError),
])
def test_vendor_errors_keep_status_and_message(gw: Any, vendor: FakeBedrock, status: int, kind: str, message: str,
                                               error: type[openai.APIStatusError]) -> None:
    from relayport_bedrock.testing import bedrock_error

    vendor.push(bedrock_error(status, message, kind))
    with pytest.raises(error) as caught:
        client(gw).chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status
    assert message in caught.value.message
    expected = "context_length_exceeded" if "too long" in message else kind
    assert caught.value.body["code"] == expected


def test_wrong_secret_is_403_and_never_shown(relayport_gateway: Any, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBedrock(api_key=None, access_key=ACCESS, secret_key="the-real-secret", region=REGION)
    fake.start()
    try:
        gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
            {"name": "claude", "provider": "bedrock", "model": MODEL, "base_url": fake.base_url,
             "options": {"region": REGION}}]}, env={})
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client(gw).chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
        assert "signature we calculated does not match" in caught.value.message
        assert caught.value.body["code"] == "InvalidSignatureException"
        assert SECRET not in str(caught.value.body) and TOKEN not in str(caught.value.body)
        assert not fake.signed
    finally:
        fake.stop()


def test_bedrock_api_key_is_a_bearer_token(relayport_gateway: Any, vendor: FakeBedrock) -> None:
    vendor.api_key = "ABSKbedrock-api-key"
    gw = relayport_gateway({"auth": {"keys": [GW_KEY]}, "models": [
        {"name": "nova", "provider": "bedrock", "model": "amazon.nova-lite-v1:0", "base_url": vendor.base_url}]},
        env={"AWS_BEARER_TOKEN_BEDROCK": "ABSKbedrock-api-key"})
    resp = client(gw).chat.completions.create(model="nova", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "echo: hi"
    assert vendor.last.headers["authorization"] == "Bearer ABSKbedrock-api-key"
    assert "x-amz-date" not in vendor.last.headers and not vendor.signed


@pytest.mark.parametrize("kind", ["modelStreamErrorException", "throttlingException", "internalServerException"])
def test_exception_frame_mid_stream_ends_in_an_error(gw: Any, vendor: FakeBedrock, kind: str) -> None:
    vendor.queue_text("this answer will not finish", error_after=4, error_kind=kind)
    chunks, raw = raw_stream(gw, {"messages": [{"role": "user", "content": "go"}]})
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == "this answer will"  # what came before the failure, then the error
    assert "error" in chunks[-1] and "overloaded" in chunks[-1]["error"]["message"]
    assert not any(c.get("choices") and c["choices"][0].get("finish_reason") for c in chunks)
    assert b"[DONE]" not in raw
    with pytest.raises(openai.APIError):
        vendor.queue_text("this answer will not finish", error_after=4, error_kind=kind)
        list(client(gw).chat.completions.create(model="claude", stream=True,
                                                messages=[{"role": "user", "content": "go"}]))


def _frames(text: str) -> list[bytes]:
    return [event_frame("messageStart", {"role": "assistant"}),
            event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})]


@pytest.mark.parametrize("drop", [True, False], ids=["connection-dropped", "clean-eof"])
def test_stream_cut_mid_frame_ends_in_an_error(gw: Any, vendor: FakeBedrock, drop: bool) -> None:
    frames = _frames("partial")
    half = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " never"}})
    events = [*frames, half[: len(half) // 2]]
    vendor.push(Reply(events=events, drop_after=len(events) if drop else None, headers={"Content-Type": EVENTSTREAM}))
    chunks, raw = raw_stream(gw, {"messages": [{"role": "user", "content": "go"}]})
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")) == "partial"
    assert "error" in chunks[-1], raw[-300:]
    assert b"[DONE]" not in raw


def _corrupt() -> bytes:
    bad = bytearray(event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " garbled"}}))
    bad[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    return bytes(bad)


def test_corrupt_frame_ends_in_an_error(gw: Any, vendor: FakeBedrock) -> None:
    # A frame apart (delay): the stream is under way when the corrupt one comes.
    vendor.push(Reply(events=[*_frames("fine"), _corrupt()], delay=0.05, headers={"Content-Type": EVENTSTREAM}))
    chunks, _ = raw_stream(gw, {"messages": [{"role": "user", "content": "go"}]})
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")) == "fine"
    assert "error" in chunks[-1] and "corrupt" in chunks[-1]["error"]["message"]


def test_corrupt_first_read_is_a_retryable_502(gw: Any, vendor: FakeBedrock) -> None:
    """All in the first read: the frames cannot be trusted and the client has nothing yet, so
    the call fails as a broken stream before its first byte does (retryable, for a fallback)."""
    vendor.push(Reply(events=[b"".join([*_frames("fine"), _corrupt()])],  # one write
                      headers={"Content-Type": EVENTSTREAM}))
    with pytest.raises(openai.APIStatusError) as caught:
        list(client(gw).chat.completions.create(model="claude", stream=True,
                                                messages=[{"role": "user", "content": "go"}]))
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_malformed_stream"


def test_exception_as_first_frame_is_the_calls_error(gw: Any, vendor: FakeBedrock) -> None:
    """A 200 stream that opens with an exception frame: the client has nothing yet, so the call
    fails with the error's own status (a 429 the SDK's retries see), not a stream of one error."""
    vendor.push(Reply(events=[exception_frame("throttlingException", "Too many tokens, please wait.")],
                      headers={"Content-Type": EVENTSTREAM}))
    with pytest.raises(openai.RateLimitError) as caught:
        list(client(gw).chat.completions.create(model="claude", stream=True,
                                                messages=[{"role": "user", "content": "go"}]))
    assert caught.value.status_code == 429
    assert caught.value.body["message"] == "bedrock: Too many tokens, please wait."


def test_exception_after_output_stays_in_the_stream(gw: Any, vendor: FakeBedrock) -> None:
    vendor.push(Reply(events=[*_frames("fine")[:3], exception_frame("throttlingException", "Slow down.")],
                      headers={"Content-Type": EVENTSTREAM}))
    chunks, _ = raw_stream(gw, {"messages": [{"role": "user", "content": "go"}]})
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")) == "fine"
    assert chunks[-1]["error"]["message"] == "bedrock: Slow down."


def test_empty_stream_is_a_502_before_any_byte(gw: Any, vendor: FakeBedrock) -> None:
    vendor.push(Reply(events=[], headers={"Content-Type": EVENTSTREAM}))
    with pytest.raises(openai.APIStatusError) as caught:
        list(client(gw).chat.completions.create(model="claude", stream=True,
                                                messages=[{"role": "user", "content": "go"}]))
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_empty_stream"
