"""Qwen-Omni's streamed audio (`delta.audio`) on the translated path: the canonical stream's
`AudioDelta` carries it to an OpenAI client as OpenAI's own `delta.audio` chunks; passthrough
is untouched; a surface without spoken output keeps the transcript as text."""

from __future__ import annotations

import base64

import httpx
import orjson
from ds_fixtures import client, dashscope_fixture, ds_gateway_fixture  # noqa: F401  (fixtures)

from relayport.testing import openapi

PCM = [b"\x00\x01\x02\x03\x04", b"\x05\x06\x07", b"\x08"]
ASK = {"modalities": ["text", "audio"], "audio": {"voice": "Cherry", "format": "wav"}}


def chunks(raw: bytes) -> list[dict]:
    return [orjson.loads(b[6:]) for b in raw.split(b"\n\n") if b.startswith(b"data: {")]


def test_translated_stream_carries_audio_as_openai_delta_audio(dashscope, ds_gateway):
    gw = ds_gateway("qwen3-omni-flash", passthrough=False)
    dashscope.queue_text("hello there", audio=PCM, usage=dashscope.usage(40, 12))
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=20, json={
        "model": "qwen3-omni-flash", "messages": [{"role": "user", "content": "say hi"}], "stream": True,
        "stream_options": {"include_usage": True}, **ASK})
    assert r.status_code == 200, r.text
    assert b"system_fingerprint" not in r.content  # re-encoded by the gateway, not the vendor's bytes
    got = chunks(r.content)
    for c in got:
        openapi.validate_chat_chunk(c)
    audio = [c["choices"][0]["delta"]["audio"] for c in got if c["choices"] and "audio" in c["choices"][0]["delta"]]
    assert "".join(a.get("transcript", "") for a in audio) == "hello there"
    assert b"".join(base64.b64decode(a["data"]) for a in audio if "data" in a) == b"".join(PCM)
    first = next(a for a in audio if "data" in a)
    assert first["id"].startswith("audio_") and isinstance(first["expires_at"], int)
    assert got[-1]["usage"]["total_tokens"] == 52
    sent = dashscope.last.json()
    assert sent["modalities"] == ["text", "audio"] and sent["audio"] == {"voice": "Cherry", "format": "wav"}


def test_translated_stream_with_the_sdk(dashscope, ds_gateway):
    gw = ds_gateway("qwen3-omni-flash", passthrough=False)
    dashscope.queue_text("hi", audio=PCM)
    stream = client(gw).chat.completions.create(
        model="qwen3-omni-flash", messages=[{"role": "user", "content": "say hi"}], stream=True, **ASK)
    pieces = [c.choices[0].delta.audio for c in stream if c.choices and c.choices[0].delta.audio]
    assert b"".join(base64.b64decode(p.data) for p in pieces if p.data) == b"".join(PCM)
    assert "".join(p.transcript or "" for p in pieces) == "hi"


def test_passthrough_stream_is_untouched(dashscope, ds_gateway):
    gw = ds_gateway("qwen3-omni-flash")
    dashscope.queue_text("hello there", audio=PCM)
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=20, json={
        "model": "qwen3-omni-flash", "messages": [{"role": "user", "content": "say hi"}], "stream": True, **ASK})
    assert b"system_fingerprint" in r.content  # the vendor's own chunks
    audio = [c["choices"][0]["delta"]["audio"] for c in chunks(r.content)
             if c["choices"] and "audio" in c["choices"][0]["delta"]]
    assert b"".join(base64.b64decode(a["data"]) for a in audio if "data" in a) == b"".join(PCM)


def test_stream_without_audio_makes_no_audio_events(dashscope, ds_gateway):
    gw = ds_gateway("qwen3-omni-flash", passthrough=False)
    dashscope.queue_text("plain words")
    r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=20, json={
        "model": "qwen3-omni-flash", "messages": [{"role": "user", "content": "x"}], "stream": True})
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(r.content) if c["choices"])
    assert text == "plain words" and b'"audio"' not in r.content
