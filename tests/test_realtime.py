"""Realtime sessions through the gateway: OpenAI's events passed through, and what the core owns
(keys, browser subprotocol, client secrets, close codes, pings, usage, concurrency)."""

from __future__ import annotations

import asyncio
import base64
import time

import aiohttp
import httpx
import openai
import orjson
import pytest
import websockets

from relayport.model.usage import Usage
from relayport.realtime.tokens import TokenIssuer
from relayport.server import keys
from relayport.testing.realtime import Script, expected_audio, play
from relayport.testing.servers import closed_port

KEY = "gw-key"


def gateway(relayport_gateway, fake, **realtime):
    return relayport_gateway({
        "auth": {"keys": [KEY]},
        "realtime": realtime,
        "models": [{"name": "voice", "provider": "openai", "model": "gpt-realtime-1.5", "base_url": fake.base_url,
                    "api_key": fake.key},
                   {"name": "chat-only", "provider": "deepseek", "base_url": fake.base_url, "api_key": "x"}],
    }, env={})


def ws_url(gw, query="model=voice"):
    return gw.url.replace("http://", "ws://") + "/v1/realtime?" + query


def records_of(gw):
    seen = []
    gw.server.app[keys.GATEWAY].observers.append(seen.append)
    return seen


async def wait_for(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_openai_sdk_conversation_passes_through(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    records = records_of(gw)
    client = openai.AsyncOpenAI(api_key=KEY, base_url=gw.openai_base_url)
    async with client.realtime.connect(model="voice") as conn:
        seen = await play(conn)
    s = Script()
    assert seen.audio == expected_audio()
    assert seen.transcript == "".join(s.transcript)
    assert seen.call == {"call_id": s.call_id, "name": s.call_name, "arguments": s.arguments}
    assert seen.types[0] == "session.created" and seen.errors == []
    fake = fake_openai_realtime
    assert fake.queries == [{"model": "gpt-realtime-1.5"}]  # the vendor's model id, not the configured name
    assert bytes(fake.audio_in) == b"".join(s.audio_in)
    assert [e["type"] for e in fake.received] == [
        "session.update", "input_audio_buffer.append", "input_audio_buffer.append", "input_audio_buffer.append",
        "input_audio_buffer.commit", "response.create", "conversation.item.create", "response.create"]
    assert fake.received[0]["session"]["tools"][0]["name"] == "get_weather"
    # One record per response, with the response's own usage.
    await wait_for(lambda: len(records) == 2)
    assert [(r.model, r.provider, r.upstream_model, r.status) for r in records] == [
        ("voice", "openai", "gpt-realtime-1.5", 200)] * 2
    assert records[0].usage == Usage(input_tokens=40, output_tokens=10, cached_tokens=0, input_audio_tokens=30,
                                     output_audio_tokens=0, input_image_tokens=0)
    assert records[1].usage == Usage(input_tokens=60, output_tokens=45, cached_tokens=32, input_audio_tokens=30,
                                     output_audio_tokens=35, input_image_tokens=0)


async def test_browser_subprotocol_carries_the_key(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(gw), protocols=("realtime", f"openai-insecure-api-key.{KEY}")) as ws:
            assert ws.protocol == "realtime"  # the key is never echoed back
            first = await ws.receive_json(timeout=5)
            assert first["type"] == "session.created"
            await ws.send_json({"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}})
            assert (await ws.receive_json(timeout=5))["session"]["instructions"] == "hi"
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(ws_url(gw), protocols=("realtime", "openai-insecure-api-key.wrong"))
        assert err.value.status == 401
    assert fake_openai_realtime.connections == 1  # a refused client never reaches the vendor


async def test_wrong_or_missing_key_is_refused_before_the_upgrade(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    client = openai.AsyncOpenAI(api_key="wrong", base_url=gw.openai_base_url)
    with pytest.raises(websockets.exceptions.InvalidStatus) as err:
        async with client.realtime.connect(model="voice"):
            pass
    assert err.value.response.status_code == 401
    assert orjson.loads(err.value.response.body)["error"]["code"] == "invalid_api_key"
    r = httpx.get(gw.url + "/v1/realtime?model=voice", headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                                 "Sec-WebSocket-Version": "13",
                                                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    assert fake_openai_realtime.connections == 0


@pytest.mark.parametrize(("query", "status", "code"), [
    ("model=nope", 404, "model_not_found"),
    ("", 400, "missing_model"),
    ("model=chat-only", 400, "model_not_realtime"),
])
async def test_models_that_cannot_open_a_session(relayport_gateway, fake_openai_realtime, query, status, code):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(ws_url(gw, query), headers=gw.headers())
        assert err.value.status == status
        r = await http.get(gw.url + "/v1/realtime?" + query, headers={
            **gw.headers(), "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert (r.status, (await r.json())["error"]["code"]) == (status, code)
        r = await http.get(gw.url + "/v1/realtime?model=voice", headers=gw.headers())
        assert (r.status, (await r.json())["error"]["code"]) == (426, "websocket_required")


async def test_vendor_refusing_or_unreachable_is_an_http_error(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    fake_openai_realtime.key = "rotated"  # the gateway's vendor key no longer works
    unreachable = relayport_gateway({"auth": {"keys": [KEY]}, "models": [
        {"name": "voice", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1", "api_key": "k"}]},
        env={})
    async with aiohttp.ClientSession() as http:
        for g, code in ((gw, "upstream_auth_error"), (unreachable, "upstream_unreachable")):
            r = await http.get(g.url + "/v1/realtime?model=voice", headers={
                **g.headers(), "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            body = await r.json()
            assert (r.status, body["error"]["code"]) == (502, code)
            assert "sk-fake-realtime" not in str(body)


async def test_malformed_events_get_error_events_and_the_session_goes_on(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(gw), headers=gw.headers()) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "session.created"
        await ws.send_str("{not json")
        await ws.send_str('{"no": "type"}')
        await ws.send_str("[1, 2]")
        await ws.send_bytes(b"\x00\x01")
        codes = [(await ws.receive_json(timeout=5))["error"]["code"] for _ in range(4)]
        assert codes == ["invalid_json", "invalid_event", "invalid_event", "invalid_event"]
        await ws.send_json({"type": "session.update", "session": {"instructions": "still here"}})
        assert (await ws.receive_json(timeout=5))["type"] == "session.updated"
    assert fake_openai_realtime.frames_in == 1  # only the good event reached the vendor


async def test_vendor_dropping_the_socket_ends_the_session_with_1011(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    fake_openai_realtime.drop_after = 3  # session.created, session.updated, committed; then the TCP reset
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(gw), headers=gw.headers()) as ws:
        await ws.send_json({"type": "session.update", "session": {}})
        await ws.send_json({"type": "input_audio_buffer.commit"})
        await ws.send_json({"type": "response.create"})
        started = time.monotonic()
        got = []
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            got.append(orjson.loads(msg.data))
        assert time.monotonic() - started < 2
        assert [e["type"] for e in got] == ["session.created", "session.updated", "input_audio_buffer.committed",
                                            "error"]
        assert got[-1]["error"]["code"] == "upstream_error"
        assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1011


async def test_vendor_close_code_and_reason_reach_the_client(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    fake_openai_realtime.close_next = (4001, "session expired")
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(gw), headers=gw.headers()) as ws:
        await ws.receive_json(timeout=5)
        await ws.send_json({"type": "input_audio_buffer.clear"})
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 4001, "session expired")


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_client_leaving_closes_the_vendor_socket_within_a_second(relayport_gateway, fake_openai_realtime, how):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    fake = fake_openai_realtime
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(ws_url(gw), headers=gw.headers())
        await ws.receive_json(timeout=5)
        left = time.monotonic()
        if how == "close":
            await ws.close()
        else:
            ws._response.connection.transport.abort()  # no close frame: the TCP connection just ends
        await wait_for(lambda: len(fake.closed_at) == 1, timeout=3)
    assert fake.closed_at[0] - left < 1.0


async def test_a_client_that_stops_answering_pings_is_closed(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime, heartbeat=0.2)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(ws_url(gw), headers=gw.headers(), autoping=False)
        msg = await ws.receive(timeout=5)
        assert orjson.loads(msg.data)["type"] == "session.created"
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.PING  # the gateway pings
        await wait_for(lambda: len(fake_openai_realtime.closed_at) == 1, timeout=3)  # no pong: both ends closed
        await ws.close()


async def test_a_vendor_that_stops_answering_pings_ends_the_session(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime, heartbeat=0.2)
    fake_openai_realtime.answer_pings = False
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(gw), headers=gw.headers()) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "session.created"
        started = time.monotonic()
        error = await ws.receive_json(timeout=5)
        msg = await ws.receive(timeout=5)
        assert error["error"]["code"] == "upstream_error"
        assert (msg.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 1011)
        assert time.monotonic() - started < 2


async def test_a_vendor_that_never_answers_the_upgrade_times_out(relayport_gateway):
    import socket

    with socket.socket() as silent:  # accepts TCP connections (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        gw = relayport_gateway({"auth": {"keys": [KEY]}, "models": [
            {"name": "voice", "provider": "openai", "base_url": f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
             "api_key": "k", "timeouts": {"connect": 0.5}}]}, env={})
        started = time.monotonic()
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(ws_url(gw), headers=gw.headers())
        assert err.value.status == 504
        assert time.monotonic() - started < 3


async def test_100_concurrent_sessions_lose_and_reorder_nothing(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    s = Script()
    records = records_of(gw)

    async def session(http):
        async with http.ws_connect(ws_url(gw), headers=gw.headers()) as ws:
            ids = []

            async def until(kind):
                while True:
                    event = await ws.receive_json(timeout=20)
                    ids.append(event["event_id"])
                    if event["type"] == kind:
                        return event

            await until("session.created")
            await ws.send_json({"type": "session.update", "session": {"tools": []}})
            for chunk in s.audio_in:
                await ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
            await ws.send_json({"type": "input_audio_buffer.commit"})
            await ws.send_json({"type": "response.create"})
            await until("response.done")
            await ws.send_json({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": s.call_id, "output": s.tool_output}})
            await ws.send_json({"type": "response.create"})
            await until("response.done")
            return ids

    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(session(http) for _ in range(100)))
    # Every event the fake numbered arrived, once, in order: 3 + 7 (function call) + 1 + 17 (audio answer).
    expected = [f"event_{i:06d}" for i in range(1, 29)]
    assert all(ids == expected for ids in results), " ".join(results[0])
    assert len(fake_openai_realtime.received) == 100 * 8
    await wait_for(lambda: len(records) == 200)


async def test_client_secret_opens_one_models_session(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    sdk = openai.AsyncOpenAI(api_key=KEY, base_url=gw.openai_base_url)
    secret = await sdk.realtime.client_secrets.create(
        session={"type": "realtime", "model": "voice", "instructions": "Speak French."},
        expires_after={"anchor": "created_at", "seconds": 60})
    assert secret.value.startswith("ek_") and KEY not in secret.value
    assert 55 <= secret.expires_at - time.time() <= 61
    # A browser holding only the secret: the session starts with the secret's config applied.
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(gw), protocols=("realtime", f"openai-insecure-api-key.{secret.value}")) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "session.created"
            assert (await ws.receive_json(timeout=5))["session"]["instructions"] == "Speak French."
        assert fake_openai_realtime.received[0] == {
            "type": "session.update", "session": {"type": "realtime", "instructions": "Speak French."}}
        # The SDK with the secret as its key.
        browser = openai.AsyncOpenAI(api_key=secret.value, base_url=gw.openai_base_url)
        async with browser.realtime.connect(model="voice") as conn:
            seen = await play(conn)
        assert seen.audio == expected_audio()
        # Good for this model's sessions only: not another model, not other routes.
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(ws_url(gw, "model=chat-only"), headers={"Authorization": f"Bearer {secret.value}"})
        assert err.value.status == 403
        r = await http.post(gw.openai_base_url + "/chat/completions", json={"model": "voice", "messages": []},
                            headers={"Authorization": f"Bearer {secret.value}"})
        assert r.status == 401
        forged = secret.value[:-3] + ("AAA" if not secret.value.endswith("AAA") else "BBB")
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(ws_url(gw), headers={"Authorization": f"Bearer {forged}"})
        assert err.value.status == 401


async def test_client_secret_requests_are_checked(relayport_gateway, fake_openai_realtime):
    gw = gateway(relayport_gateway, fake_openai_realtime)
    url = gw.openai_base_url + "/realtime/client_secrets"
    cases = [({}, 400, "missing_model"), ({"session": {"type": "transcription", "model": "voice"}}, 400, "invalid_value"),
             ({"session": {"model": "nope"}}, 404, "model_not_found"),
             ({"session": {"model": "voice"}, "expires_after": {"seconds": 1}}, 400, "invalid_value")]
    for body, status, code in cases:
        r = httpx.post(url, json=body, headers=gw.headers())
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), body
    assert httpx.post(url, json={"session": {"model": "voice"}}).status_code == 401


def test_tokens_expire_and_survive_a_restart_with_a_configured_secret():
    issuer = TokenIssuer(b"s3cret")
    token, expires_at = issuer.issue("voice", 60, now=1000.0)
    assert expires_at == 1060
    assert issuer.check(token, now=1059.0).model == "voice"
    assert issuer.check(token, now=1060.0) is None
    assert TokenIssuer(b"s3cret").check(token, now=1001.0) is not None  # a new process, same secret
    assert TokenIssuer(b"other").check(token, now=1001.0) is None
    assert TokenIssuer().check(token, now=1001.0) is None
