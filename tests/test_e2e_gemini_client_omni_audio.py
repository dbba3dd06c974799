"""A Gemini client asking for spoken output (`responseModalities: ["AUDIO"]`) from Qwen-Omni:
the request reaches DashScope as OpenAI chat's `modalities`/`audio`, and the canonical stream's
audio comes back as Gemini's `inlineData` parts (24 kHz PCM), with the transcript as text."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from google import genai
from google.genai import types

from relayport.testing.servers import GatewayHandle
from relayport_dashscope.testing import FakeDashScope

PCM = [b"\x00\x01\x02\x03", b"\x04\x05", b"\x06\x07\x08\x09"]


@pytest.fixture
def dashscope() -> Iterator[FakeDashScope]:
    fake = FakeDashScope()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gw(relayport_gateway: Callable[..., GatewayHandle], dashscope: FakeDashScope) -> GatewayHandle:
    return relayport_gateway({"auth": {"keys": ["gw-key"]},
                              "models": [{"name": "qwen3-omni-flash", "provider": "dashscope",
                                          "model": "qwen3-omni-flash", "base_url": dashscope.base_url,
                                          "api_key": dashscope.api_key}]}, env={})


def test_gemini_stream_gets_qwen_omni_audio_as_inline_data(gw, dashscope):
    dashscope.queue_text("hello there", audio=PCM)
    client = genai.Client(api_key="gw-key", http_options=types.HttpOptions(base_url=gw.url))
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"],
        speech_config=types.SpeechConfig(voice_config=types.VoiceConfig(
            prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Cherry"))))
    audio, text = b"", ""
    for chunk in client.models.generate_content_stream(model="qwen3-omni-flash", contents="say hi", config=config):
        for part in chunk.candidates[0].content.parts or ():
            if part.inline_data is not None:
                assert part.inline_data.mime_type == "audio/L16;codec=pcm;rate=24000"
                audio += part.inline_data.data
            elif part.text:
                text += part.text
    assert audio == b"".join(PCM) and text == "hello there"
    sent = dashscope.last.json()
    assert sent["modalities"] == ["text", "audio"] and sent["audio"] == {"format": "pcm16", "voice": "Cherry"}
    assert sent["stream"] is True


def test_gemini_text_only_request_asks_no_audio(gw, dashscope):
    dashscope.queue_text("plain")
    client = genai.Client(api_key="gw-key", http_options=types.HttpOptions(base_url=gw.url))
    out = client.models.generate_content(model="qwen3-omni-flash", contents="hi")
    assert out.text == "plain" and "modalities" not in dashscope.last.json()
