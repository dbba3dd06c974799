"""Anthropic clients (`/v1/messages`) to Amazon Bedrock, signed with SigV4 (verified by the fake).

Claude models get Claude's own Messages API on InvokeModel, nearly as sent (`anthropic_version`
instead of `model`); their streams come out of eventstream frames as Anthropic's SSE. Other
models (Llama, Nova) are translated to Converse. Needs relayport-anthropic (the surface) and
relayport-bedrock at once, so it lives with the whole-suite tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from relayport.testing.fakes import Reply
from relayport.testing.servers import GatewayHandle, start_gateway

pytest.importorskip("botocore", reason="relayport[aws] not installed")
from relayport_bedrock.testing import EVENTSTREAM, FakeBedrock, chunk_frame, exception_frame  # noqa: E402

ACCESS, SECRET = "AKIDANTHROPICBEDROCK", "anthropic/bedrock/SECRET"
REGION = "us-west-2"
GATEWAY_KEY = "sk-gateway-bedrock-anth"
CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.fixture
def vendor(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrock]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    fake = FakeBedrock(api_key=None, access_key=ACCESS, secret_key=SECRET, region=REGION).start()
    yield fake  # type: ignore[misc]
    fake.stop()


@pytest.fixture
def gateway(vendor: FakeBedrock) -> Iterator[GatewayHandle]:
    models = [{"name": name, "provider": "bedrock", "model": model, "base_url": vendor.base_url,
               "options": {"region": REGION}}
              for name, model in (("claude", CLAUDE), ("llama", "meta.llama3-1-70b-instruct-v1:0"))]
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                            "models": models}, env={"RELAYPORT_LOAD_PLUGINS": "anthropic,bedrock"})
    yield handle
    handle.stop()


@pytest.fixture
def client(gateway: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)


def test_claude_message_goes_to_invoke_model_nearly_as_sent(client: anthropic.Anthropic, vendor: FakeBedrock) -> None:
    vendor.queue_text("42", reasoning="Six times seven.",
                      usage={"inputTokens": 21, "outputTokens": 9, "cacheReadInputTokens": 5})
    msg = client.messages.create(
        model="claude", max_tokens=2000, system="Be brief.", thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "6 x 7?"}], extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert [b.type for b in msg.content] == ["thinking", "text"] and msg.content[1].text == "42"
    assert msg.content[0].thinking == "Six times seven." and msg.content[0].signature == "sig-claude"
    assert (msg.usage.input_tokens, msg.usage.output_tokens, msg.usage.cache_read_input_tokens) == (21, 9, 5)
    sent = vendor.last
    assert sent.path == f"/model/{CLAUDE}/invoke" and vendor.signed == [ACCESS]
    assert sent.json() == {"max_tokens": 2000, "system": "Be brief.",
                           "thinking": {"type": "enabled", "budget_tokens": 1024},
                           "messages": [{"role": "user", "content": "6 x 7?"}],
                           "anthropic_version": "bedrock-2023-05-31",
                           "anthropic_beta": ["interleaved-thinking-2025-05-14"]}
    assert GATEWAY_KEY not in str(sent.headers)


def test_claude_stream_comes_back_as_anthropic_events(client: anthropic.Anthropic, vendor: FakeBedrock) -> None:
    vendor.queue_text(tool_calls=[{"id": "toolu_1", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}],
                      reasoning="Look it up.")
    with client.messages.stream(model="claude", max_tokens=500,
                                tools=[{"name": "weather", "input_schema": {"type": "object"}}],
                                messages=[{"role": "user", "content": "Weather in Paris?"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    assert final.content[1].input == {"city": "Paris"} and final.stop_reason == "tool_use"
    assert vendor.last.path == f"/model/{CLAUDE}/invoke-with-response-stream"
    assert vendor.last.headers["x-amzn-bedrock-accept"] == "application/json"
    assert "stream" not in vendor.last.json()


def test_raw_stream_is_sse_event_per_chunk(gateway: GatewayHandle, vendor: FakeBedrock) -> None:
    vendor.queue_text("hello there")
    resp = httpx.post(gateway.url + "/v1/messages", timeout=10,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"},
                      json={"model": "claude", "max_tokens": 50, "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in resp.content.split(b"\n\n") if b]
    names = [b.split(b"\n")[0] for b in blocks]
    assert names[0] == b"event: message_start" and names[-1] == b"event: message_stop"
    # The event bytes Bedrock wrapped in base64 reach the client unchanged (metrics included).
    last = orjson.loads(blocks[-1].split(b"\n")[1][6:])
    assert last["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 2


def test_error_frame_in_a_claude_stream_is_an_anthropic_error(client: anthropic.Anthropic, vendor: FakeBedrock) -> None:
    vendor.queue_text("this will break", error_after=3, error_kind="throttlingException")
    stream = client.messages.stream(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.APIStatusError) as caught, stream as events:
        for _ in events:
            pass
    assert "overloaded" in str(caught.value)
    assert caught.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("drop", [True, False], ids=["connection-dropped", "clean-eof"])
def test_claude_stream_cut_mid_frame_ends_in_an_error(gateway: GatewayHandle, vendor: FakeBedrock, drop: bool) -> None:
    start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                  "model": "claude", "content": [], "stop_reason": None,
                                                  "usage": {"input_tokens": 1, "output_tokens": 1}}}
    half = chunk_frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    events = [chunk_frame(start), half[:20]]
    vendor.push(Reply(events=events, drop_after=len(events) if drop else None, headers={"Content-Type": EVENTSTREAM}))
    resp = httpx.post(gateway.url + "/v1/messages", timeout=10,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"},
                      json={"model": "claude", "max_tokens": 50, "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]})
    blocks = [b for b in resp.content.split(b"\n\n") if b]
    assert blocks[0].startswith(b"event: message_start")
    assert blocks[-1].startswith(b"event: error") and b"mid-frame" in blocks[-1]


def test_claude_errors_keep_status_in_anthropics_envelope(client: anthropic.Anthropic, vendor: FakeBedrock) -> None:
    vendor.push(vendor.error_reply(429, "Too many requests, please wait before trying again."))
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert "Too many requests" in caught.value.message


def test_llama_is_translated_to_converse(client: anthropic.Anthropic, vendor: FakeBedrock) -> None:
    vendor.queue_text("llama says hi")
    msg = client.messages.create(model="llama", max_tokens=100, system="be kind",
                                 messages=[{"role": "user", "content": "hello"}])
    assert msg.content[0].text == "llama says hi" and msg.stop_reason == "end_turn"
    sent = vendor.last
    assert sent.path == "/model/meta.llama3-1-70b-instruct-v1:0/converse"
    body: dict[str, Any] = sent.json()
    assert body["system"] == [{"text": "be kind"}] and body["inferenceConfig"] == {"maxTokens": 100}
    with client.messages.stream(model="llama", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        assert s.get_final_message().content[0].text == "echo: hi"


def test_claude_stream_cut_short_is_charged_an_estimate(gateway: GatewayHandle, vendor: FakeBedrock) -> None:
    """Bedrock's frames are transcoded to SSE: the estimate of a stream the vendor dropped
    scales a sample of the client's bytes by the client's bytes (relayport.interrupted)."""
    from relayport.calls import CallRecord
    from relayport.server.keys import GATEWAY

    seen: list[CallRecord] = []
    gateway.server.app[GATEWAY].observers.append(seen.append)
    start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                  "model": "claude", "content": [], "stop_reason": None,
                                                  "usage": {"input_tokens": 7, "output_tokens": 1}}}
    events = [chunk_frame(start),
              chunk_frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
    events += [chunk_frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" w{i}"}})
               for i in range(20)]
    vendor.push(Reply(events=events, drop_after=len(events), headers={"Content-Type": EVENTSTREAM}))
    resp = httpx.post(gateway.url + "/v1/messages", timeout=10,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"},
                      json={"model": "claude", "max_tokens": 50, "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]})
    assert b" w19" in resp.content and resp.content.rstrip().split(b"\n\n")[-1].startswith(b"event: error")
    [rec] = seen
    assert (rec.status, rec.error) == (502, "upstream_malformed_stream")  # not a 200: it broke
    assert rec.usage is not None and rec.usage.input_tokens == 7  # the vendor said it at the start
    # 20 words, within the sample's error: the start events' bytes weigh a little, the error
    # event's (in the sample, with no text) too
    assert 18 <= rec.usage.output_tokens <= 24


def test_exception_as_first_frame_is_the_calls_own_error(client: anthropic.Anthropic, vendor: FakeBedrock) -> None:
    """Bedrock answers 200 and then says "throttled" in its first frame: nothing has reached the
    client, so the call fails with the error's own status (the SDK's retry logic sees a 429, a
    fallback could answer), not a 200 stream holding an error event."""
    vendor.push(Reply(events=[exception_frame("throttlingException", "Too many tokens, please wait.")],
                      headers={"Content-Type": EVENTSTREAM}))
    stream = client.messages.stream(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.RateLimitError) as caught, stream as events:
        list(events)
    assert caught.value.status_code == 429
    assert caught.value.body["error"]["message"] == "bedrock: Too many tokens, please wait."
