"""OpenAI realtime through the gateway: the `openai` SDK's realtime client, events passed through."""

from __future__ import annotations

import openai

from relayport.testing.realtime import Script, expected_audio, play


async def test_realtime_conversation_passes_through(relayport_gateway, fake_openai_realtime):
    gw = relayport_gateway({"auth": {"keys": ["gk"]}, "models": [
        {"name": "gpt-realtime", "provider": "openai", "base_url": fake_openai_realtime.base_url,
         "api_key": fake_openai_realtime.key}]}, env={})
    client = openai.AsyncOpenAI(api_key="gk", base_url=gw.openai_base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        seen = await play(conn)
    s = Script()
    assert (seen.audio, seen.transcript, seen.call["arguments"]) == (expected_audio(), "".join(s.transcript),
                                                                    s.arguments)
    assert [u["output_tokens"] for u in seen.usages] == [10, 45]
    assert fake_openai_realtime.queries == [{"model": "gpt-realtime"}]
    assert bytes(fake_openai_realtime.audio_in) == b"".join(s.audio_in)
