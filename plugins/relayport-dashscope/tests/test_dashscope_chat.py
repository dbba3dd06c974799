"""OpenAI clients through the gateway to DashScope's compatible mode (the fake), with the official SDK."""

from __future__ import annotations

import base64

import httpx
import openai
import orjson
import pytest
from ds_fixtures import client, dashscope_fixture, ds_gateway_fixture  # noqa: F401  (fixtures)

from relayport.testing import openapi
from relayport_dashscope.testing import COMPAT

TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def test_thinking_switch_and_budget_reach_dashscope_top_level(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("42", reasoning="Six times seven.", usage=dashscope.usage(20, 30, reasoning=9))
    raw = client(gw).chat.completions.with_raw_response.create(
        model="qwen-plus", messages=[{"role": "user", "content": "answer?"}],
        extra_body={"enable_thinking": True, "thinking_budget": 512})
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    assert body["choices"][0]["message"]["reasoning_content"] == "Six times seven."
    assert body["choices"][0]["message"]["content"] == "42"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 9
    sent = dashscope.last.json()
    assert dashscope.last.path == COMPAT
    assert sent["enable_thinking"] is True and sent["thinking_budget"] == 512
    # Anthropic-style spelling from the same client maps onto DashScope's switch.
    client(gw).chat.completions.create(
        model="qwen-plus", messages=[{"role": "user", "content": "again"}],
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 2048}})
    sent = dashscope.last.json()
    assert sent["enable_thinking"] is True and sent["thinking_budget"] == 2048
    assert "thinking" not in sent


def test_reasoning_streams_as_reasoning_content_deltas(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("the answer", reasoning="step one step two", usage=dashscope.usage(10, 5))
    stream = client(gw).chat.completions.create(
        model="qwen-plus", messages=[{"role": "user", "content": "q"}], stream=True,
        stream_options={"include_usage": True}, extra_body={"enable_thinking": True})
    reasoning, text, usage = "", "", None
    for chunk in stream:
        openapi.validate_chat_chunk(chunk.model_dump(exclude_unset=True))
        if chunk.choices:
            reasoning += getattr(chunk.choices[0].delta, "reasoning_content", None) or ""
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert (reasoning, text) == ("step one step two", "the answer")
    assert usage is not None and usage.total_tokens == 15


def test_search_and_its_options_reach_dashscope(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    options = {"forced_search": True, "search_strategy": "max", "enable_source": True}
    client(gw).chat.completions.create(
        model="qwen-plus", messages=[{"role": "user", "content": "news?"}],
        extra_body={"enable_search": True, "search_options": options})
    sent = dashscope.last.json()
    assert sent["enable_search"] is True and sent["search_options"] == options


def test_tool_calls_stream_with_dashscope_fragments(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    call = {"id": "call_abc", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Hangzhou"}'}}
    dashscope.queue_text("", tool_calls=[call])
    stream = client(gw).chat.completions.create(
        model="qwen-plus", messages=[{"role": "user", "content": "weather?"}], tools=[TOOL], stream=True)
    ids, name, args, finish = [], None, "", None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or ():
            ids.append(tc.id)
            name = name or (tc.function.name if tc.function else None)
            args += (tc.function.arguments or "") if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert ids[0] == "call_abc" and name == "get_weather"
    assert orjson.loads(args) == {"city": "Hangzhou"}
    assert finish == "tool_calls"
    assert dashscope.last.json()["tools"] == [TOOL]


def test_tool_calls_non_stream(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Beijing"}'}}
    dashscope.queue_text("", tool_calls=[call])
    raw = client(gw).chat.completions.with_raw_response.create(
        model="qwen-plus", messages=[{"role": "user", "content": "weather?"}], tools=[TOOL])
    openapi.validate_chat_completion(orjson.loads(raw.content))
    message = raw.parse().choices[0].message
    assert message.tool_calls[0].function.name == "get_weather"
    assert raw.parse().choices[0].finish_reason == "tool_calls"


def test_video_url_with_fps_and_frame_lists_reach_dashscope_as_sent(dashscope, ds_gateway):
    gw = ds_gateway("qwen-vl-max")
    frames = [f"https://example.com/f{i}.jpg" for i in range(4)]
    content = [
        {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}, "fps": 2},
        {"type": "video", "video": frames, "fps": 1},
        {"type": "image_url", "image_url": {"url": "https://example.com/i.png"}},
        {"type": "text", "text": "what happens?"},
    ]
    out = client(gw).chat.completions.create(model="qwen-vl-max", messages=[{"role": "user", "content": content}])
    assert out.choices[0].message.content == "echo: what happens?"
    assert dashscope.last.json()["messages"][0]["content"] == content


def test_media_arrays_become_dashscope_parts(dashscope, ds_gateway):
    gw = ds_gateway("qwen-vl-max")
    client(gw).chat.completions.create(
        model="qwen-vl-max", messages=[{"role": "user", "content": "describe"}],
        extra_body={"images": ["https://example.com/a.png"], "videos": ["https://example.com/b.mp4"]})
    parts = dashscope.last.json()["messages"][0]["content"]
    assert {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}} in parts
    assert {"type": "video_url", "video_url": {"url": "https://example.com/b.mp4"}} in parts


def test_stop_as_token_ids_passes_and_mixed_is_refused(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"stop": [37763, 367]})
    assert dashscope.last.json()["stop"] == [37763, 367]
    client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "hi"}],
                                       stop=["你好", "再见"])
    assert dashscope.last.json()["stop"] == ["你好", "再见"]
    sent = len(dashscope.requests)
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "hi"}],
                                           extra_body={"stop": ["你好", 123456]})
    err = orjson.loads(info.value.response.content)["error"]
    assert err["param"] == "stop" and "not both" in err["message"]
    assert len(dashscope.requests) == sent


def test_qwen_mt_translation_options(dashscope, ds_gateway):
    gw = ds_gateway("qwen-mt-turbo")
    out = client(gw).chat.completions.create(
        model="qwen-mt-turbo", messages=[{"role": "user", "content": "你好"}],
        extra_body={"translation_options": {"source_lang": "Chinese", "target_lang": "English"}})
    assert out.choices[0].message.content == "[Chinese->English] 你好"
    assert dashscope.last.json()["translation_options"]["target_lang"] == "English"


def test_omni_non_stream_call_is_streamed_and_joined_with_audio(dashscope, ds_gateway):
    gw = ds_gateway("qwen3-omni-flash")
    pcm = [b"\x00\x01\x02\x03\x04", b"\x05\x06\x07", b"\x08"]
    dashscope.queue_text("hello there", audio=pcm, usage=dashscope.usage(40, 12))
    raw = client(gw).chat.completions.with_raw_response.create(
        model="qwen3-omni-flash", messages=[{"role": "user", "content": "say hi"}],
        modalities=["text", "audio"], audio={"voice": "Cherry", "format": "wav"})
    body = orjson.loads(raw.content)
    openapi.validate_chat_completion(body)
    audio = body["choices"][0]["message"]["audio"]
    assert base64.b64decode(audio["data"]) == b"".join(pcm)
    assert audio["transcript"] == "hello there" and audio["id"].startswith("audio_")
    assert body["usage"]["total_tokens"] == 52
    assert "streamed upstream and joined" in raw.headers["x-relayport-adjustments"]
    sent = dashscope.last.json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["modalities"] == ["text", "audio"] and sent["audio"]["voice"] == "Cherry"


def test_omni_stream_call_streams_straight_through(dashscope, ds_gateway):
    gw = ds_gateway("qwen-omni-turbo")
    dashscope.queue_text("one two three")
    text = "".join(c.choices[0].delta.content or "" for c in client(gw).chat.completions.create(
        model="qwen-omni-turbo", messages=[{"role": "user", "content": "count"}], stream=True) if c.choices)
    assert text == "one two three"


def test_thinking_open_weight_qwen3_non_stream_is_joined(dashscope, ds_gateway):
    gw = ds_gateway("qwen3-235b-a22b")
    dashscope.queue_text("done", reasoning="thinking hard")
    out = client(gw).chat.completions.create(model="qwen3-235b-a22b",
                                             messages=[{"role": "user", "content": "x"}])
    assert out.choices[0].message.content == "done"
    assert out.choices[0].message.reasoning_content == "thinking hard"
    assert dashscope.last.json()["stream"] is True
    # With thinking off the model answers non-streaming calls itself.
    client(gw).chat.completions.create(model="qwen3-235b-a22b", messages=[{"role": "user", "content": "x"}],
                                       extra_body={"enable_thinking": False})
    assert "stream" not in dashscope.last.json()


@pytest.mark.parametrize("suffix", ["", "/compatible-mode/v1", "/api/v1", "/api/v1/"])
def test_one_base_url_serves_both_apis(dashscope, ds_gateway, suffix):
    gw = ds_gateway("qwen-plus", base_url=dashscope.url + suffix)
    client(gw).chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "hi"}])
    assert dashscope.last.path == COMPAT
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10, json={
        "model": "qwen-plus", "input": {"messages": [{"role": "user", "content": "hi"}]}})
    assert r.status_code == 200, r.text
    assert dashscope.last.path == "/api/v1/services/aigc/text-generation/generation"


def test_search_on_a_model_without_search_is_dropped_and_announced(dashscope, ds_gateway):
    gw = ds_gateway("qwen-vl-max", "qwen2.5-14b-instruct")
    raw = client(gw).chat.completions.with_raw_response.create(
        model="qwen-vl-max", messages=[{"role": "user", "content": "news?"}],
        extra_body={"enable_search": True, "search_options": {"forced_search": True}})
    assert raw.headers["x-relayport-adjustments"] == "enable_search ignored: qwen-vl-max has no web search"
    sent = dashscope.last.json()
    assert "enable_search" not in sent and "search_options" not in sent
    raw = client(gw).chat.completions.with_raw_response.create(
        model="qwen2.5-14b-instruct", messages=[{"role": "user", "content": "x"}],
        stream=True, extra_body={"enable_search": True})
    assert "enable_search ignored" in raw.headers["x-relayport-adjustments"]
    assert "enable_search" not in dashscope.last.json()


def test_audio_reaches_omni_as_input_audio_parts(dashscope, ds_gateway):
    gw = ds_gateway("qwen3-omni-flash")
    dashscope.queue_text("heard it")
    stream = client(gw).chat.completions.create(
        model="qwen3-omni-flash", stream=True,
        messages=[{"role": "user", "content": [
            {"type": "audio_url", "audio_url": {"url": "https://example.com/a.mp3"}},
            {"type": "text", "text": "what is said?"}]}],
        extra_body={"voices": ["https://example.com/b.wav"]})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "heard it"
    parts = dashscope.last.json()["messages"][0]["content"]
    assert {"type": "input_audio", "input_audio": {"data": "https://example.com/a.mp3", "format": "mp3"}} in parts
    assert {"type": "input_audio", "input_audio": {"data": "https://example.com/b.wav", "format": "wav"}} in parts
    assert not any(p["type"] == "audio_url" for p in parts)
    assert "voices" not in dashscope.last.json()
