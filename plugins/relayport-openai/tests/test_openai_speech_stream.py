"""Streamed speech through the gateway: OpenAI's chunked audio and its `stream_format: "sse"`
events reach the client as they arrive, driven with the official `openai` SDK."""

from __future__ import annotations

import base64
import threading
import time

import httpx
import openai
import orjson
import pytest

from relayport.testing.openai_media import AUDIO
from relayport.testing.openapi import validate


@pytest.fixture
def gw(relayport_gateway, fake_openai):
    def entry(name, model, **extra):
        return {"name": name, "provider": "openai", "model": model, "base_url": fake_openai.base_url,
                "api_key": fake_openai.api_key, **extra}

    return relayport_gateway({
        "auth": {"keys": ["gw-key"]},
        "models": [entry("tts", "gpt-4o-mini-tts", timeouts={"idle": 1.0}), entry("tts-1", "tts-1")],
    }, env={})


@pytest.fixture
def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="gw-key", max_retries=0, timeout=20)


def sse_events(body: bytes) -> list[dict]:
    return [orjson.loads(block[len(b"data: "):]) for block in body.split(b"\n\n") if block]


def test_first_audio_reaches_the_client_before_the_vendor_finishes(client, fake_openai):
    gate = threading.Event()
    fake_openai.media.speech_gate = gate  # the vendor holds everything after its first piece
    try:
        with client.audio.speech.with_streaming_response.create(model="tts", voice="alloy",
                                                                input="hello there") as resp:
            assert resp.headers["content-type"] == "audio/mpeg"
            assert resp.headers["transfer-encoding"] == "chunked"
            chunks = resp.iter_bytes()
            first = next(chunks)  # arrives while the vendor is still held
            assert not gate.is_set() and AUDIO["mp3"][0].startswith(first) and first
            gate.set()
            rest = b"".join(chunks)
    finally:
        gate.set()
    assert first + rest == AUDIO["mp3"][0]
    sent = fake_openai.last.json()
    assert sent == {"model": "gpt-4o-mini-tts", "input": "hello there", "voice": "alloy"}


def test_create_returns_the_whole_audio(client):
    audio = client.audio.speech.create(model="tts", voice="nova", input="hi", response_format="flac")
    assert audio.content == AUDIO["flac"][0] and audio.response.headers["content-type"] == "audio/flac"


def test_sse_events_are_openais_and_carry_its_usage(gw, fake_openai):
    r = httpx.post(gw.openai_base_url + "/audio/speech", headers=gw.headers(), timeout=20,
                   json={"model": "tts", "voice": "alloy", "input": "say it in pieces", "stream_format": "sse"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.content)
    for ev in events:
        validate("CreateSpeechResponseStreamEvent", ev)
    assert {e["type"] for e in events[:-1]} == {"speech.audio.delta"} and events[-1]["type"] == "speech.audio.done"
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == AUDIO["mp3"][0]
    assert events[-1]["usage"]["input_tokens"] == 4 and events[-1]["usage"]["output_tokens"] > 0
    assert fake_openai.last.json()["stream_format"] == "sse"


def test_sse_for_a_model_without_it_is_made_by_the_gateway(gw, fake_openai):
    r = httpx.post(gw.openai_base_url + "/audio/speech", headers=gw.headers(), timeout=20,
                   json={"model": "tts-1", "voice": "alloy", "input": "hello", "stream_format": "sse",
                         "response_format": "wav"})
    assert r.status_code == 200, r.text
    events = sse_events(r.content)
    for ev in events:
        validate("CreateSpeechResponseStreamEvent", ev)
    assert events[-1]["type"] == "speech.audio.done"
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == AUDIO["wav"][0]
    assert "stream_format" not in fake_openai.last.json()  # tts-1 refuses it


def test_vendor_error_before_the_first_byte_is_an_error_envelope(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.audio.speech.create(model="tts", voice="alloy", input="hi", response_format="ogg")  # type: ignore[arg-type]
    assert exc.value.body["param"] == "response_format" and "ogg" in exc.value.message


def test_bad_stream_format_is_refused(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.audio.speech.create(model="tts", voice="alloy", input="hi", stream_format="json")  # type: ignore[arg-type]
    assert exc.value.body["param"] == "stream_format"


def test_vendor_drop_mid_stream_cuts_the_body_without_a_hang(client, fake_openai):
    fake_openai.media.speech_drop_after = 2
    started = time.monotonic()
    got = b""
    # An incomplete body (the SDK's httpx raises), not a shorter file that looks complete.
    with pytest.raises(Exception, match="incomplete chunked read"), \
            client.audio.speech.with_streaming_response.create(model="tts", voice="alloy", input="hi") as resp:
        for chunk in resp.iter_bytes():
            got += chunk
    assert time.monotonic() - started < 5
    assert got and AUDIO["mp3"][0].startswith(got) and got != AUDIO["mp3"][0]


def test_vendor_drop_mid_stream_ends_sse_with_an_error_event(gw, fake_openai):
    fake_openai.media.speech_drop_after = 2
    r = httpx.post(gw.openai_base_url + "/audio/speech", headers=gw.headers(), timeout=20,
                   json={"model": "tts", "voice": "alloy", "input": "hi", "stream_format": "sse"})
    events = sse_events(r.content)
    assert {e["type"] for e in events[:-1]} == {"speech.audio.delta"} and events[-1]["type"] == "error"
    assert 0 < len(b"".join(base64.b64decode(e["audio"]) for e in events[:-1])) < len(AUDIO["mp3"][0])
    assert events[-1]["error"]["code"] == "upstream_unreachable" and "sk-" not in r.text


def test_vendor_stalling_mid_stream_times_out(gw, fake_openai):
    fake_openai.media.speech_gate = threading.Event()  # never set: the vendor stalls after one piece
    started = time.monotonic()
    r = httpx.post(gw.openai_base_url + "/audio/speech", headers=gw.headers(), timeout=20,
                   json={"model": "tts", "voice": "alloy", "input": "hi", "stream_format": "sse"})
    fake_openai.media.speech_gate.set()
    events = sse_events(r.content)
    assert [e["type"] for e in events] == ["speech.audio.delta", "error"]
    assert events[-1]["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 5  # the model's idle timeout (1 s), not the vendor's pace
