"""End to end: the `openai` SDK -> gateway /v1/chat/completions -> fake Gemini API.

Every response and chunk is checked against OpenAI's published OpenAPI schema, and the fake
refuses what the real API would refuse (so a passing call is one Gemini would take).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from gemini_helpers import GATEWAY_KEY, GEMINI_KEY

from relayport.testing import openapi
from relayport.testing.fakes import Reply
from relayport.testing.servers import GatewayHandle
from relayport_gemini import vocab
from relayport_gemini.testing import FakeGemini, google_error, rate_limited

pytest_plugins = ("gemini_fixtures",)  # fixtures shared without a conftest.py (see there why)
DATA = Path(__file__).parent / "data"
TOOLS = [{"type": "function", "function": {
    "name": "weather", "description": "Current weather",
    "parameters": {"type": "object", "additionalProperties": False,
                   "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"],
                                                                       "enum": ["c", "f"]}},
                   "required": ["city"]}}}]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def create(client: Any, **kwargs: Any) -> Any:
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    openapi.validate_chat_completion(orjson.loads(raw.content))
    return raw


def stream(client: Any, **kwargs: Any) -> list[Any]:
    chunks = list(client.chat.completions.create(stream=True, **kwargs))
    for c in chunks:
        openapi.validate_chat_chunk(c.model_dump(exclude_unset=True, mode="json"))
    return chunks


def accumulate(chunks: list[Any]) -> dict[str, Any]:
    """The assistant message an OpenAI client keeps from a stream, thinking_blocks included."""
    msg: dict[str, Any] = {"content": "", "reasoning": "", "thinking_blocks": [], "tool_calls": {},
                           "finish": None, "usage": None}
    for c in chunks:
        if c.usage is not None:
            msg["usage"] = c.usage
        for ch in c.choices:
            d = ch.delta
            msg["content"] += d.content or ""
            extra = d.model_extra or {}
            msg["reasoning"] += extra.get("reasoning_content") or ""
            msg["thinking_blocks"] += extra.get("thinking_blocks") or []
            for tc in d.tool_calls or []:
                call = msg["tool_calls"].setdefault(tc.index, {"id": None, "type": "function",
                                                               "function": {"name": "", "arguments": ""}})
                call["id"] = tc.id or call["id"]
                call["function"]["name"] += tc.function.name or ""
                call["function"]["arguments"] += tc.function.arguments or ""
            if ch.finish_reason:
                msg["finish"] = ch.finish_reason
    return msg


def test_chat_translates_and_answers(openai_client: Any, fake_gemini: FakeGemini) -> None:
    raw = create(openai_client, model="gemini-flash", temperature=0.3, max_tokens=50, stop=["END"], seed=7,
                 messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}])
    done = raw.parse()
    assert done.choices[0].message.content == "echo: hello"
    assert done.choices[0].finish_reason == "stop"
    sent = fake_gemini.last
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "maxOutputTokens": 50, "seed": 7, "stopSequences": ["END"]},
    }
    usage = done.usage
    assert usage.prompt_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert done.id == "fakeResp0001" and done.model == "gemini-2.5-flash"


def test_stream_with_thinking(openai_client: Any, fake_gemini: FakeGemini) -> None:
    fake_gemini.queue_text("the answer is four", reasoning="two plus two is four")
    chunks = stream(openai_client, model="gemini-flash", reasoning_effort="high",
                    stream_options={"include_usage": True},
                    messages=[{"role": "user", "content": "2+2?"}])
    msg = accumulate(chunks)
    assert msg["content"] == "the answer is four"
    assert msg["reasoning"] == "two plus two is four"
    assert msg["finish"] == "stop"
    assert msg["usage"].completion_tokens_details.reasoning_tokens == 5
    assert msg["usage"].completion_tokens == 4 + 5  # thoughts count as completion, as OpenAI's do
    sent = fake_gemini.last
    assert sent.path.endswith(":streamGenerateContent") and sent.query == {"alt": "sse"}
    assert sent.json()["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 24576}


def test_thinking_levels_on_gemini_3(openai_client: Any, fake_gemini: FakeGemini) -> None:
    create(openai_client, model="gemini-3", reasoning_effort="low", messages=[{"role": "user", "content": "hi"}])
    assert fake_gemini.last.json()["generationConfig"]["thinkingConfig"] == {"includeThoughts": True,
                                                                            "thinkingLevel": "low"}
    # Google's own spelling through extra_body, as aggregators document it.
    create(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "hi"}],
           extra_body={"google": {"thinking_config": {"thinking_budget": 512, "include_thoughts": True}}})
    assert fake_gemini.last.json()["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 512,
                                                                            "includeThoughts": True}
    raw = create(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "hi"}],
                 extra_body={"extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}}})
    assert fake_gemini.last.json()["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    # A model that does not think: dropped, and the client is told.
    raw = create(openai_client, model="gemini-2.0-flash", reasoning_effort="high",
                 messages=[{"role": "user", "content": "hi"}])
    assert "generationConfig" not in fake_gemini.last.json()
    assert raw.headers["x-relayport-adjustments"] == "thinking dropped: the model does not think"
    # Thinking cannot be switched off on 2.5 Pro: the lowest budget instead of a 400.
    raw = create(openai_client, model="gemini-pro", extra_body={"enable_thinking": False},
                 messages=[{"role": "user", "content": "hi"}])
    assert fake_gemini.last.json()["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 128}
    assert "cannot be disabled" in raw.headers["x-relayport-adjustments"]


def test_tool_round_trip_replays_thought_signatures(openai_client: Any, fake_gemini: FakeGemini) -> None:
    """Gemini 3 signs its function calls; the signature reaches the client in thinking_blocks
    and goes back on the same call, or the fake (like the real API) answers 400."""
    fake_gemini.queue_turn([{"text": "I should look it up.", "thought": True},
                            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}])
    chunks = stream(openai_client, model="gemini-3", tools=TOOLS, tool_choice="required",
                    messages=[{"role": "user", "content": "Weather in Paris and Oslo?"}])
    msg = accumulate(chunks)
    sent = fake_gemini.last.json()
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    params = sent["tools"][0]["functionDeclarations"][0]["parameters"]
    assert params == {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "nullable": True, "enum": ["c", "f"]}}}
    assert msg["finish"] == "tool_calls"
    calls = [msg["tool_calls"][0], msg["tool_calls"][1]]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert all(c["id"].startswith("call_") for c in calls) and calls[0]["id"] != calls[1]["id"]
    assert [b["thinking"] for b in msg["thinking_blocks"]] == ["I should look it up."]
    signature = msg["thinking_blocks"][0]["signature"]
    assert signature in fake_gemini.issued

    history = [{"role": "user", "content": "Weather in Paris and Oslo?"},
               {"role": "assistant", "content": None, "tool_calls": calls,
                "thinking_blocks": msg["thinking_blocks"]},
               {"role": "tool", "tool_call_id": calls[1]["id"], "content": '{"temp": 3}'},
               {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny, 21C"}]
    raw = create(openai_client, model="gemini-3", tools=TOOLS, messages=history)
    assert raw.parse().choices[0].message.content == "echo: Weather in Paris and Oslo?"
    assert "x-relayport-adjustments" not in raw.headers
    contents = fake_gemini.last.json()["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": signature},
        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]
    assert contents[2]["parts"] == [{"functionResponse": {"name": "weather", "response": {"temp": 3}}},
                                    {"functionResponse": {"name": "weather", "response": {"result": "sunny, 21C"}}}]

    # A client that dropped thinking_blocks: Google's documented skip value, and a note.
    history[1].pop("thinking_blocks")
    raw = create(openai_client, model="gemini-3", tools=TOOLS, messages=history)
    assert fake_gemini.last.json()["contents"][1]["parts"][0]["thoughtSignature"] == vocab.SKIP_SIGNATURE
    assert raw.headers["x-relayport-adjustments"] == "thought signature missing: validation skipped"
    # The signature on the tool call itself, as Google's OpenAI-compatible endpoint hands it out.
    history[1]["tool_calls"] = [{**calls[0], "extra_content": {"google": {"thought_signature": signature}}},
                                calls[1]]
    create(openai_client, model="gemini-3", tools=TOOLS, messages=history)
    assert fake_gemini.last.json()["contents"][1]["parts"][0]["thoughtSignature"] == signature


def test_fake_refuses_a_missing_signature(fake_gemini: FakeGemini) -> None:
    """The rule the gateway works around is real in the fake: proof the tests above can fail."""
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                         {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                         {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}
    r = httpx.post(fake_gemini.url + "/v1beta/models/gemini-3-pro-preview:generateContent", json=body,
                   headers={"x-goog-api-key": GEMINI_KEY})
    assert r.status_code == 400 and "missing a thought_signature" in r.json()["error"]["message"]
    body["contents"][1]["parts"][0]["thoughtSignature"] = "bm90IGlzc3VlZA=="  # one it never issued
    r = httpx.post(fake_gemini.url + "/v1beta/models/gemini-3-pro-preview:generateContent", json=body,
                   headers={"x-goog-api-key": GEMINI_KEY})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Corrupted thought signature."


def test_non_stream_tool_call_and_text_signature(openai_client: Any, fake_gemini: FakeGemini) -> None:
    fake_gemini.queue_turn([{"functionCall": {"name": "weather", "args": {"city": "Rome"}}}])
    done = create(openai_client, model="gemini-3", tools=TOOLS,
                  messages=[{"role": "user", "content": "Rome?"}]).parse()
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "weather"
    assert orjson.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Rome"}
    blocks = choice.message.model_extra["thinking_blocks"]
    assert blocks[0]["signature"] in fake_gemini.issued
    # Gemini 3 signs the last part of a plain answer too: kept, and replayed on that text.
    done = create(openai_client, model="gemini-3", messages=[{"role": "user", "content": "hi"}]).parse()
    blocks = done.choices[0].message.model_extra["thinking_blocks"]
    create(openai_client, model="gemini-3", messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": done.choices[0].message.content, "thinking_blocks": blocks},
        {"role": "user", "content": "again"}])
    assert fake_gemini.last.json()["contents"][1]["parts"] == [
        {"text": "echo: hi", "thoughtSignature": blocks[0]["signature"]}]


def test_images_audio_and_files(openai_client: Any, fake_gemini: FakeGemini, media_server: Any) -> None:
    media_server.push(Reply(body=PNG, headers={"Content-Type": "image/png"}))
    media_server.push(Reply(body=b"RIFFfakewav", headers={"Content-Type": "application/octet-stream"}))
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    create(openai_client, model="gemini-flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "image_url", "image_url": {"url": media_server.url + "/pic"}},
        {"type": "audio_url", "audio_url": {"url": media_server.url + "/a/clip.wav"}},
        {"type": "video_url", "video_url": {"url": "https://www.youtube.com/watch?v=9hE5-98ZeCg"}},
        {"type": "file", "file": {"file_id": "files/abc123"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.jpeg"}},
    ]}])
    parts = fake_gemini.last.json()["contents"][0]["parts"]
    assert parts == [
        {"text": "what is this?"},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
        {"inlineData": {"mimeType": "audio/wav", "data": base64.b64encode(b"RIFFfakewav").decode()}},
        {"fileData": {"fileUri": "https://www.youtube.com/watch?v=9hE5-98ZeCg"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
        {"fileData": {"fileUri": "gs://bucket/cat.jpeg", "mimeType": "image/jpeg"}},
    ]
    assert [r.path for r in media_server.requests] == ["/pic", "/a/clip.wav"]


def test_fetch_limits_are_the_clients_400(openai_client: Any, fake_gemini: FakeGemini, media_server: Any) -> None:
    media_server.push(Reply(body=b"x" * 5000, headers={"Content-Type": "image/png"}))
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": media_server.url + "/big.png"}}]}])
    assert "larger than 4096 bytes" in info.value.message
    assert info.value.body["code"] == "invalid_url"
    assert not fake_gemini.requests


def test_response_format_search_and_tool_choice(openai_client: Any, fake_gemini: FakeGemini) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    create(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "json"}],
           response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
           tools=[*TOOLS, {"type": "google_search"}],  # type: ignore[list-item]
           tool_choice={"type": "function", "function": {"name": "weather"}})
    sent = fake_gemini.last.json()
    assert sent["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    assert sent["tools"][1] == {"googleSearch": {}}
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}}
    create(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "news"}],
           extra_body={"enable_search": True})
    assert fake_gemini.last.json()["tools"] == [{"googleSearch": {}}]


def test_rate_limit_keeps_status_and_retry_delay(openai_client: Any, fake_gemini: FakeGemini) -> None:
    fake_gemini.push(rate_limited("31.2s"))
    with pytest.raises(openai.RateLimitError) as info:
        openai_client.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "x"}])
    err = info.value
    openapi.validate_error(orjson.loads(err.response.content))
    assert err.response.headers["retry-after"] == "32"
    assert err.body["code"] == "RESOURCE_EXHAUSTED" and "exceeded your current quota" in err.message
    assert GEMINI_KEY not in err.response.text


def test_vendor_400_and_stream_errors(openai_client: Any, fake_gemini: FakeGemini) -> None:
    fake_gemini.push(google_error(400, "* GenerateContentRequest.contents[0].parts: bad"))
    with pytest.raises(openai.BadRequestError) as info:
        stream(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "x"}])
    assert "contents[0].parts: bad" in info.value.message and info.value.body["code"] == "INVALID_ARGUMENT"
    # The stream breaks off after two events: the client gets what came, then an error.
    fake_gemini.queue_text("one two three four", drop_after=2)
    with pytest.raises(openai.APIError):
        stream(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "x"}])


def test_safety(openai_client: Any, fake_gemini: FakeGemini) -> None:
    fake_gemini.queue_turn([], block_reason="PROHIBITED_CONTENT")
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "x"}])
    assert "PROHIBITED_CONTENT" in info.value.message and info.value.body["code"] == "content_filter"
    fake_gemini.queue_turn([{"text": "Once upon"}], finish="SAFETY")
    msg = accumulate(stream(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "x"}]))
    assert msg["content"] == "Once upon" and msg["finish"] == "content_filter"
    fake_gemini.queue_turn([{"text": "cut"}], finish="MAX_TOKENS")
    done = create(openai_client, model="gemini-flash", messages=[{"role": "user", "content": "x"}]).parse()
    assert done.choices[0].finish_reason == "length"


def test_bad_input_is_a_400_naming_the_field(openai_client: Any, fake_gemini: FakeGemini) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="gemini-flash", messages=[
            {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}])
    assert info.value.body["param"] == "messages[1].tool_call_id"
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="gemini-flash", messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                   "function": {"name": "f", "arguments": "{oops"}}]}])
    assert info.value.body["param"] == "messages[1].tool_calls[0].function.arguments"
    assert not fake_gemini.requests


@pytest.mark.parametrize("seed", ["seed_004_gemini_image_audio.json", "seed_000_multimodal_thinking.json"])
def test_seed_examples(seed: str, gateway: GatewayHandle, fake_gemini: FakeGemini, media_server: Any) -> None:
    """The aggregator examples, sent as their documentation shows (raw JSON, typos included),
    with their remote media served by the local media server."""
    body = orjson.loads((DATA / seed).read_bytes())
    urls: list[str] = []
    for part in body["messages"][-1]["content"]:
        for key in ("image_url", "audio_url", "video_url"):
            if key in part:
                urls.append(part[key]["url"])
                part[key]["url"] = media_server.url + "/" + part[key]["url"].rsplit("/", 1)[-1]
                ctype = {"image_url": "image/jpeg", "audio_url": "audio/wav", "video_url": "video/mp4"}[key]
                media_server.push(Reply(body=b"\x00media", headers={"Content-Type": ctype}))
    r = httpx.post(gateway.openai_base_url + "/chat/completions", json=body,
                   headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=30)
    assert r.status_code == 200, r.text
    answer = r.json()
    openapi.validate_chat_completion(answer)
    types = {"image_url": "image/jpeg", "audio_url": "audio/wav", "video_url": "video/mp4"}
    expected = [{"text": p["text"]} if p["type"] == "text" else types[p["type"]]
                for p in body["messages"][-1]["content"]]
    parts = fake_gemini.last.json()["contents"][0]["parts"]
    assert [p if "text" in p else p["inlineData"]["mimeType"] for p in parts] == expected
    assert answer["choices"][0]["message"]["content"].startswith("echo: ")
    assert answer["usage"]["prompt_tokens"] > 0
    assert len(media_server.requests) == len(urls)
