"""The response store: key binding, expiry, deletion (SQLite, as the gateway opens it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relayport.responses import store as response_store
from relayport.responses.store import ResponseStore, owner_of


async def test_bound_to_the_key_and_expiring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(response_store.time, "time", lambda: now[0])
    store = ResponseStore(str(tmp_path / "state" / "relayport.sqlite3"), ttl_seconds=100)
    await store.open()
    alice, bob = owner_of("sk-alice"), owner_of("sk-bob")
    assert alice != bob and owner_of(None) == b"" and b"sk-alice" not in alice
    await store.put(alice, {"id": "resp_1", "output": []}, [{"type": "message"}])
    assert await store.get(alice, "resp_1") == ({"id": "resp_1", "output": []}, [{"type": "message"}])
    assert await store.get(bob, "resp_1") is None
    assert not await store.delete(bob, "resp_1")
    now[0] += 101  # expired: invisible at once
    assert await store.get(alice, "resp_1") is None
    await store.put(alice, {"id": "resp_2", "output": []}, [])  # a later write purges it
    assert await store._run("SELECT id FROM responses", ()) == [("resp_2",)]
    assert await store.delete(alice, "resp_2") and await store.get(alice, "resp_2") is None
    await store.close()
    # The same file after a restart still has what was written.
    store = ResponseStore(str(tmp_path / "state" / "relayport.sqlite3"), ttl_seconds=100)
    await store.open()
    await store.put(alice, {"id": "resp_3", "output": []}, [])
    await store.close()
    store = ResponseStore(str(tmp_path / "state" / "relayport.sqlite3"), ttl_seconds=100)
    await store.open()
    assert (await store.get(alice, "resp_3"))[0]["id"] == "resp_3"  # type: ignore[index]
    await store.close()
