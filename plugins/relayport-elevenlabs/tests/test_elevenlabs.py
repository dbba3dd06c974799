"""ElevenLabs speech through the gateway with the official `openai` SDK: xi-api-key, the voice id
in the path, output_format in the query, audio streamed as it arrives, `{"detail": ...}` errors."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from relayport.plugins import load_plugins
from relayport.testing.openapi import validate
from relayport_elevenlabs import ELEVENLABS
from relayport_elevenlabs.testing import KEY, MP3, PCM, VOICE, FakeElevenLabs


@pytest.fixture
def eleven() -> Iterator[FakeElevenLabs]:
    fake = FakeElevenLabs()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gw(relayport_gateway, eleven):
    entry = {"provider": "elevenlabs", "base_url": eleven.url, "api_key": KEY}
    return relayport_gateway({
        "models": [{"name": "eleven_multilingual_v2", **entry, "timeouts": {"idle": 1.0},
                    "options": {"voices": {"alloy": "21m00Tcm4TlvDq8ikWAM"}}},
                   {"name": "eleven-bad-key", **entry, "model": "eleven_flash_v2_5", "api_key": "wrong"}],
    }, env={})


@pytest.fixture
def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0, timeout=20)


def test_loads_through_its_entry_point():
    plugins = load_plugins()
    assert "elevenlabs" in plugins.providers and plugins.providers["elevenlabs"].spec == ELEVENLABS


def test_create_sends_elevenlabs_request_and_returns_audio(client, eleven):
    audio = client.audio.speech.create(model="eleven_multilingual_v2", voice=VOICE, input="Hello there",
                                       speed=1.1)
    assert audio.content == MP3 and audio.response.headers["content-type"] == "audio/mpeg"
    sent = eleven.last
    assert sent.path == f"/v1/text-to-speech/{VOICE}/stream"
    assert sent.query == {"output_format": "mp3_44100_128"}
    assert sent.headers["xi-api-key"] == KEY and "authorization" not in sent.headers
    assert sent.json() == {"text": "Hello there", "model_id": "eleven_multilingual_v2",
                           "voice_settings": {"speed": 1.1}}


def test_streaming_response_yields_chunks_as_they_arrive(client, eleven):
    eleven.gate = threading.Event()
    try:
        with client.audio.speech.with_streaming_response.create(
                model="eleven_multilingual_v2", voice="alloy", input="Hi", response_format="pcm") as resp:
            assert resp.headers["content-type"] == "audio/pcm"  # OpenAI's pcm, not the vendor's octet-stream
            chunks = resp.iter_bytes()
            first = next(chunks)
            assert first and not eleven.gate.is_set() and PCM.startswith(first)
            eleven.gate.set()
            rest = b"".join(chunks)
    finally:
        eleven.gate.set()
    assert first + rest == PCM
    assert eleven.last.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream"  # OpenAI's name mapped
    assert eleven.last.query["output_format"] == "pcm_24000"


def test_sse_stream_format(gw, eleven):
    r = httpx.post(gw.openai_base_url + "/audio/speech", timeout=20,
                   json={"model": "eleven_multilingual_v2", "voice": VOICE, "input": "Hi", "stream_format": "sse"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [orjson.loads(b[6:]) for b in r.content.split(b"\n\n") if b]
    for ev in events:
        validate("CreateSpeechResponseStreamEvent", ev)
    assert events[-1]["type"] == "speech.audio.done"
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == MP3


def test_native_output_format_and_body_fields_pass_through(gw, eleven):
    r = httpx.post(gw.openai_base_url + "/audio/speech", timeout=20, json={
        "model": "eleven_multilingual_v2", "voice": VOICE, "input": "Hi", "response_format": "ulaw_8000",
        "voice_settings": {"stability": 0.4}, "language_code": "de", "seed": 7, "optimize_streaming_latency": 2,
        "instructions": "whisper"})
    assert r.status_code == 200 and r.content == PCM and r.headers["content-type"] == "audio/basic"
    assert r.headers["x-relayport-adjustments"] == "instructions dropped: ElevenLabs takes no voice instructions"
    assert eleven.last.query == {"output_format": "ulaw_8000", "optimize_streaming_latency": "2"}
    assert eleven.last.json() == {"text": "Hi", "model_id": "eleven_multilingual_v2", "voice_settings": {"stability": 0.4},
                                  "language_code": "de", "seed": 7}


def test_format_elevenlabs_does_not_make_is_refused_before_the_vendor(client, eleven):
    with pytest.raises(openai.BadRequestError) as exc:
        client.audio.speech.create(model="eleven_multilingual_v2", voice=VOICE, input="Hi", response_format="flac")
    assert exc.value.body["param"] == "response_format" and not eleven.requests


def test_vendor_errors_keep_status_and_detail(client):
    with pytest.raises(openai.AuthenticationError) as auth:
        client.audio.speech.create(model="eleven-bad-key", voice=VOICE, input="Hi")
    assert auth.value.body["code"] == "invalid_api_key" and "wrong" not in str(auth.value.body)
    with pytest.raises(openai.PermissionDeniedError) as gated:
        client.audio.speech.create(model="eleven_multilingual_v2", voice=VOICE, input="Hi",
                                   response_format="mp3_44100_192")  # type: ignore[arg-type]
    assert gated.value.body["code"] == "output_format_not_allowed" and "higher tiers" in gated.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        client.audio.speech.create(model="eleven_multilingual_v2", voice="nobody", input="Hi")
    assert missing.value.body["code"] == "voice_not_found"


def test_fastapi_validation_error_names_the_field(eleven):
    from relayport.model import UpstreamResponse
    from relayport_elevenlabs.speech import map_error

    body = orjson.dumps({"detail": [{"type": "missing", "loc": ["body", "text"], "msg": "Field required"}]})
    err = map_error(UpstreamResponse(422, {}, body))
    assert err.status == 422 and err.param == "text" and err.code == "missing"
    assert err.message == "elevenlabs: Field required (text)"


def test_drop_mid_stream_is_an_incomplete_body_not_a_hang(client, eleven):
    eleven.drop_after = 1
    started = time.monotonic()
    with pytest.raises(Exception, match="incomplete chunked read"), \
            client.audio.speech.with_streaming_response.create(model="eleven_multilingual_v2", voice=VOICE,
                                                               input="Hi") as resp:
        for _ in resp.iter_bytes():
            pass
    assert time.monotonic() - started < 5


def test_seed_form_gets_the_whole_audio(gw, eleven):
    r = httpx.post(gw.openai_base_url + "/audio/speech", timeout=20, json={
        "model": "eleven_multilingual_v2", "voice": VOICE, "messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 200 and r.content == MP3
    assert eleven.last.path == f"/v1/text-to-speech/{VOICE}"
