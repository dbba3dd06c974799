"""qwen3-omni-flash-realtime behind OpenAI's realtime events: the `openai` SDK against a fake DashScope."""

from __future__ import annotations

import openai
import pytest

from relayport.model.usage import Usage
from relayport.server import keys
from relayport.testing.realtime import TOOL, Script, expected_audio, play
from relayport_dashscope.fake_realtime import FakeDashScopeRealtime
from relayport_dashscope.realtime import DashScopeTranslator, client_session, vendor_session


@pytest.fixture
def dashscope():
    fake = FakeDashScopeRealtime().start()
    yield fake
    fake.stop()


async def test_openai_sdk_conversation_with_qwen_omni_realtime(relayport_gateway, dashscope):
    gw = relayport_gateway({"auth": {"keys": ["gk"]}, "models": [
        {"name": "omni", "provider": "dashscope", "model": "qwen3-omni-flash-realtime",
         "base_url": dashscope.base_url + "/compatible-mode/v1", "api_key": dashscope.key}]}, env={})
    records = []
    gw.server.app[keys.GATEWAY].observers.append(records.append)
    client = openai.AsyncOpenAI(api_key="gk", base_url=gw.openai_base_url)
    async with client.realtime.connect(model="omni") as conn:
        seen = await play(conn)
    s = Script()
    assert seen.errors == []
    assert seen.audio == expected_audio()  # beta response.audio.delta arrived as response.output_audio.delta
    assert seen.transcript == "".join(s.transcript)
    assert seen.call == {"call_id": s.call_id, "name": s.call_name, "arguments": s.arguments}
    assert "response.audio.delta" not in seen.types
    assert dashscope.queries == [{"model": "qwen3-omni-flash-realtime"}]
    update = dashscope.received[0]["session"]
    assert update == {"modalities": ["text", "audio"], "instructions": s.instructions,
                      "tools": [{"type": "function", "function": {k: v for k, v in TOOL.items() if k != "type"}}]}
    assert bytes(dashscope.audio_in) == b"".join(s.audio_in)
    assert [r.usage.output_audio_tokens for r in records] == [0, 35]
    assert records[1].usage == Usage(input_tokens=60, output_tokens=45, cached_tokens=32, input_audio_tokens=30,
                                     output_audio_tokens=35, input_image_tokens=0)


def test_session_shapes_both_ways():
    ga = {"type": "realtime", "output_modalities": ["text"], "max_output_tokens": 99,
          "audio": {"input": {"turn_detection": None, "transcription": {"model": "asr"}},
                    "output": {"voice": "Cherry"}}}
    assert vendor_session(ga) == {"modalities": ["text"], "voice": "Cherry", "turn_detection": None,
                                  "input_audio_transcription": {"model": "asr"}, "input_audio_format": "pcm",
                                  "output_audio_format": "pcm", "max_tokens": 99}
    back = client_session({"modalities": ["text", "audio"], "voice": "Cherry", "turn_detection": None, "id": "s"})
    assert back["output_modalities"] == ["audio"] and back["audio"]["output"]["voice"] == "Cherry"
    assert back["audio"]["input"]["turn_detection"] is None and back["id"] == "s"


def test_beta_usage_spelling_is_normalised():
    t = DashScopeTranslator()
    done = t.from_vendor({"type": "response.done", "response": {"usage": {
        "input_tokens": 5, "output_tokens": 2, "input_tokens_details": {"audio_tokens": 4},
        "output_tokens_details": {"audio_tokens": 1}}, "output": [{"content": [{"type": "audio"}]}]}}).client[0]
    assert done["response"]["usage"]["input_token_details"] == {"audio_tokens": 4}
    assert done["response"]["output"][0]["content"] == [{"type": "output_audio"}]
    assert t.from_vendor({"type": "response.text.delta", "delta": "x"}).client[0]["type"] == "response.output_text.delta"
