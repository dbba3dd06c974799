"""Realtime sessions with store keys (relayport.accounts): the key's allow-list applies before
the upgrade, and the session's usage is charged to the key that opened it."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from relayport.server import keys
from relayport.testing.realtime import play
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)
from tests.test_accounts_gateway import ADMIN, admin, create
from tests.test_realtime import wait_for, ws_url


def _gateway(relayport_gateway, store_url, fake):  # noqa: F811
    return relayport_gateway({
        "server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]},
        "models": [{"name": "voice", "provider": "openai", "model": "gpt-realtime-1.5", "base_url": fake.base_url,
                    "api_key": fake.key, "price": {"input": 1000, "output": 1000}},
                   {"name": "voice-2", "provider": "openai", "model": "gpt-realtime-1.5", "base_url": fake.base_url,
                    "api_key": fake.key}],
    }, env={})


async def test_store_key_session_is_charged_to_its_key(relayport_gateway, store_url, fake_openai_realtime):  # noqa: F811
    gw = _gateway(relayport_gateway, store_url, fake_openai_realtime)
    key = create(gw, name="voice-app", models=["voice"], balance=100)
    records: list = []
    gw.server.app[keys.GATEWAY].observers.append(records.append)
    client = openai.AsyncOpenAI(api_key=key, base_url=gw.openai_base_url)
    async with client.realtime.connect(model="voice") as conn:
        seen = await play(conn)
    assert seen.errors == []
    await wait_for(lambda: len(records) == 2)
    shown = admin(gw, "GET", "/admin/keys/voice-app").json()
    assert {r.caller for r in records} == {shown["id"]}
    assert all(r.cost is not None and r.cost > 0 for r in records)
    assert float(shown["balance"]) < 100


async def test_store_key_outside_its_allow_list_or_unknown_is_refused(relayport_gateway, store_url,  # noqa: F811
                                                                      fake_openai_realtime) -> None:
    gw = _gateway(relayport_gateway, store_url, fake_openai_realtime)
    key = create(gw, name="voice-app", models=["voice"])
    async with aiohttp.ClientSession() as http:
        for query, token, status in (("model=voice-2", key, 403), ("model=voice", "rp-not-a-key", 401)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(ws_url(gw, query), headers={"Authorization": f"Bearer {token}"})
            assert err.value.status == status
    assert fake_openai_realtime.connections == 0
