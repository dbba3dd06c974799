"""Gemini Live behind OpenAI's realtime events: the `openai` SDK against a fake Live API."""

from __future__ import annotations

import base64

import aiohttp
import openai
import pytest

from relayport.model.usage import Usage
from relayport.server import keys
from relayport.testing.realtime import Script, expected_audio, play
from relayport_gemini.fake_live import FakeGeminiLive
from relayport_gemini.live import LiveTranslator, setup_message


@pytest.fixture
def live():
    fake = FakeGeminiLive().start()
    yield fake
    fake.stop()


def gateway(relayport_gateway, fake):
    return relayport_gateway({"auth": {"keys": ["gk"]}, "models": [
        {"name": "live", "provider": "gemini", "model": "gemini-3.1-flash-live-preview", "base_url": fake.base_url,
         "api_key": fake.key}]}, env={})


async def test_openai_sdk_conversation_with_gemini_live(relayport_gateway, live):
    gw = gateway(relayport_gateway, live)
    records = []
    gw.server.app[keys.GATEWAY].observers.append(records.append)
    client = openai.AsyncOpenAI(api_key="gk", base_url=gw.openai_base_url)
    async with client.realtime.connect(model="live") as conn:
        seen = await play(conn)
    s = Script()
    assert seen.errors == []
    assert seen.audio == expected_audio()
    assert seen.transcript == "".join(s.transcript)
    assert seen.call == {"call_id": s.call_id, "name": s.call_name, "arguments": '{"city":"Paris"}'}
    # `committed` comes from the translator, `session.updated` from Gemini's setupComplete: either first.
    assert seen.types[0] == "session.created"
    assert set(seen.types[1:3]) == {"session.updated", "input_audio_buffer.committed"}
    assert seen.types.count("response.done") == 2
    setup = live.setups[0]
    assert setup["model"] == "models/gemini-3.1-flash-live-preview"
    assert setup["systemInstruction"] == {"parts": [{"text": s.instructions}]}
    assert setup["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert bytes(live.audio_in) == b"".join(s.audio_in)
    assert [r.usage for r in records] == [
        Usage(input_tokens=40, output_tokens=10, cached_tokens=0, input_audio_tokens=30, output_audio_tokens=0,
              input_image_tokens=0),
        Usage(input_tokens=60, output_tokens=45, cached_tokens=32, input_audio_tokens=30, output_audio_tokens=35,
              input_image_tokens=0)]


async def test_gemini_closing_passes_its_code_and_reason(relayport_gateway, live):
    gw = gateway(relayport_gateway, live)
    url = gw.url.replace("http://", "ws://") + "/v1/realtime?model=live"
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers={"Authorization": "Bearer gk"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "session.created"
        await ws.send_json({"type": "session.update", "session": {"type": "realtime"}})
        assert (await ws.receive_json(timeout=5))["type"] == "session.updated"
        # A second session.update cannot reach Gemini: an error event, and the session goes on.
        await ws.send_json({"type": "session.update", "session": {"instructions": "again"}, "event_id": "e2"})
        err = await ws.receive_json(timeout=5)
        assert (err["error"]["code"], err["error"]["event_id"]) == ("session_update_unsupported", "e2")
        live.close_next = (1007, "Invalid JSON payload received.")
        await ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0\0").decode()})
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1007, "Invalid JSON payload received.")


def test_manual_turns_become_activity_markers_and_text_turns_complete_on_response_create():
    t = LiveTranslator("gemini-live")
    relay = t.from_client({"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["text"], "audio": {"input": {
            "turn_detection": None, "format": {"type": "audio/pcm", "rate": 16000}}}}})
    setup = relay.vendor[0]["setup"]
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
    assert setup["generationConfig"] == {"responseModalities": ["TEXT"]} and "outputAudioTranscription" not in setup
    a = t.from_client({"type": "input_audio_buffer.append", "audio": "AAA="}).vendor
    assert a == [{"realtimeInput": {"activityStart": {}}},
                 {"realtimeInput": {"audio": {"data": "AAA=", "mimeType": "audio/pcm;rate=16000"}}}]
    assert t.from_client({"type": "input_audio_buffer.commit"}).vendor == [{"realtimeInput": {"activityEnd": {}}}]
    t.from_client({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    assert t.from_client({"type": "response.create"}).vendor == [{"clientContent": {"turnComplete": True}}]
    out = t.from_vendor({"serverContent": {"modelTurn": {"parts": [{"text": "Hel"}, {"text": "lo"}]}}}).client
    out += t.from_vendor({"serverContent": {"turnComplete": True}}).client
    kinds = [e["type"] for e in out]
    assert kinds == ["response.created", "response.output_item.added", "response.output_text.delta",
                     "response.output_text.delta", "response.output_text.done", "response.output_item.done",
                     "response.done"]
    assert out[-1]["response"]["output"][0]["content"] == [{"type": "output_text", "text": "Hello"}]


def test_interruption_cancels_the_open_response():
    t = LiveTranslator("m")
    t.from_client({"type": "session.update", "session": {}})
    t.from_vendor({"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": "AA=="}}]}}})
    out = t.from_vendor({"serverContent": {"interrupted": True}}).client
    assert out[0]["type"] == "input_audio_buffer.speech_started"
    assert out[-1]["type"] == "response.done" and out[-1]["response"]["status"] == "cancelled"


def test_setup_carries_voice_and_transcription():
    msg = setup_message("m", {"audio": {"output": {"voice": "Puck"}, "input": {"transcription": {"model": "x"}}}})
    assert msg["setup"]["generationConfig"]["speechConfig"] == {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}}
    assert msg["setup"]["inputAudioTranscription"] == {} and msg["setup"]["outputAudioTranscription"] == {}
