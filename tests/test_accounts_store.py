"""The key and usage store: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from relayport.accounts import manage
from relayport.accounts import store as store_module
from relayport.accounts.live import record_row
from relayport.accounts.money import to_units
from relayport.accounts.records import digest, period_of
from relayport.accounts.store import USAGE_COLUMNS, Charge, SQLiteStore, StoreError, open_store
from relayport.calls import CallRecord
from relayport.model.usage import Usage
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)


@pytest.fixture
async def store(store_url):  # noqa: F811
    s = open_store(store_url, "unused.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_created_key_is_stored_hashed_and_found_by_name_or_id(store) -> None:
    secret, rec = await manage.create_key(store, {
        "name": "team-a", "owner": "ana", "team": "a", "models": ["gpt-*", "claude-*"], "rpm": 60, "tpm": 1000,
        "max_concurrency": 4, "budget": "12.5", "period": "month", "expires": "2030-01-31"})
    assert secret.startswith("rp-") and len(secret) > 40
    for ref in ("team-a", rec.id):
        found = await store.find(ref)
        assert found is not None
        assert found.digest == digest(secret) and secret not in repr(found)
        assert (found.models, found.rpm, found.tpm, found.max_concurrency) == (["gpt-*", "claude-*"], 60, 1000, 4)
        assert found.budget == to_units("12.5") and found.period == "month"
        assert found.public()["expires_at"] == "2030-01-31T00:00:00+00:00"
        assert found.public()["budget"] == "12.5" and "digest" not in found.public()
    with pytest.raises(StoreError, match="already exists"):
        await manage.create_key(store, {"name": "team-a"})


@pytest.mark.parametrize("spec, message", [
    ({}, "name is required"),
    ({"name": "x", "rpm": 0}, "rpm must be a positive integer"),
    ({"name": "x", "period": "day"}, "period needs a budget"),
    ({"name": "x", "period": "week", "budget": 1}, "period must be one of"),
    ({"name": "x", "budget": "lots"}, "budget must be an amount"),
    ({"name": "x", "expires": "soon"}, "not a date"),
    ({"name": "x", "colour": "red"}, "unknown field"),
])
async def test_bad_key_specs_are_refused_with_the_reason(store, spec, message) -> None:
    with pytest.raises(StoreError, match=message):
        await manage.create_key(store, spec)
    assert await store.keys() == []


async def test_revoke_rotate_topup(store) -> None:
    secret, rec = await manage.create_key(store, {"name": "k", "balance": 1})
    revoked = await manage.revoke(store, "k")
    assert revoked is not None and revoked.status(time.time()) == "revoked"
    new_secret, rotated = await manage.rotate_key(store, rec.id)
    assert new_secret != secret and rotated.digest == digest(new_secret)
    topped = await manage.topup(store, "k", "2.25")
    assert topped is not None and topped.public()["balance"] == "3.25"
    assert await manage.revoke(store, "nobody") is None
    assert await manage.topup(store, "nobody", 1) is None
    with pytest.raises(StoreError):
        await manage.topup(store, "k", "-1")


async def test_charges_add_up_and_periods_roll_over(store) -> None:
    _, rec = await manage.create_key(store, {"name": "k", "budget": 10, "period": "day", "balance": 5})
    await store.write([], [Charge(rec.id, 300, "2026-11-28"), Charge(rec.id, 200, "2026-11-28")])
    got = await store.find("k")
    assert (got.spent, got.period_spent, got.period_start) == (500, 500, "2026-11-28")
    assert got.balance == to_units(5) - 500
    await store.write([], [Charge(rec.id, 7, "2026-11-29")])
    got = await store.find("k")
    assert (got.spent, got.period_spent, got.period_start) == (507, 7, "2026-11-29")
    # The budget counts only the current period.
    now = time.time()
    assert got.spent_now(now) == (7 if period_of("day", now) == "2026-11-29" else 0)


def _record(key: str | None, model: str, usage: Usage | None, status: int = 200) -> CallRecord:
    return CallRecord(request_id="r", caller=key, model=model, provider="openai", deployment="d",
                      upstream_model=model, status=status, error=None if status == 200 else "x",
                      usage=usage, latency=0.01)


async def test_usage_report_groups_by_key_model_and_day(store) -> None:
    _, a = await manage.create_key(store, {"name": "alpha"})
    rows = [
        record_row(_record(a.id, "m1", Usage(10, 5, cached_tokens=4, reasoning_tokens=2)), 100),
        record_row(_record(a.id, "m2", Usage(1, 1)), 3),
        record_row(_record(None, "m1", Usage(7, 0)), 0),
        record_row(_record(a.id, "m1", None, status=502), 0),
    ]
    await store.write(rows, [])
    by_key = {r["key"]: r for r in await store.usage("key")}
    assert by_key["alpha"]["calls"] == 3 and by_key["alpha"]["errors"] == 1
    assert by_key["alpha"]["prompt_tokens"] == 11 and by_key["alpha"]["cost"] == 103
    assert by_key["-"]["prompt_tokens"] == 7
    by_model = {r["model"]: r for r in await store.usage("model", key="alpha")}
    assert by_model["m1"]["cached_tokens"] == 4 and by_model["m1"]["reasoning_tokens"] == 2
    assert set(by_model) == {"m1", "m2"}
    days = await store.usage("day")
    assert [d["calls"] for d in days] == [4] and days[0]["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert await store.usage("model", since=time.time() + 60) == []


@pytest.mark.parametrize("count", [1, 3, 203])
async def test_a_batch_of_any_size_lands_row_for_row(store, count) -> None:
    """SQLite takes a batch as multi-row INSERTs of 128, 64, ... rows; PostgreSQL one row a
    statement. Either way every row lands with its own values, and a column that only a later
    row fills is kept."""
    rows = []
    for i in range(count):
        row = list(record_row(_record("k", f"m{i % 3}", Usage(i, 2 * i, cached_tokens=i % 2 or None)), i))
        row[0] = 1_000_000.0 + i  # ts: the order to read them back in
        if i == count // 2:
            row[USAGE_COLUMNS.index("error")] = "vendor_error"
        if i == count - 1:
            row[USAGE_COLUMNS.index("ttfb_ms")] = 12.5
        rows.append(tuple(row))
    await store.write(rows, [])
    got = await store._fetch(f"SELECT {', '.join(USAGE_COLUMNS)} FROM rp_usage ORDER BY ts")
    assert [tuple(r) for r in got] == rows


async def test_a_serving_gateway_checkpoints_the_wal_off_the_loop(tmp_path, monkeypatch) -> None:
    """A gateway writes usage on the event loop, so SQLite's own checkpoint (two fsyncs, ~10 ms
    under load, on the commit that crosses 1,000 pages) is off there and runs on a worker
    thread instead: the WAL still starts over and every row lands."""
    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 0.0)
    path = tmp_path / "state.sqlite3"
    serving = SQLiteStore(str(path), inline_writes=True)
    await serving.open()
    try:
        db = serving._conn()
        assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        for _ in range(40):
            rows = [record_row(_record("k", "m", Usage(i, i)), i) for i in range(300)]
            await serving.write(rows, [])
            while serving._checkpoint is not None:  # (each write starts one: CHECKPOINT_EVERY is 0)
                await asyncio.sleep(0.001)
        # 40 batches of ~15 pages each would be a WAL of ~2.5 MB without checkpoints.
        assert (tmp_path / "state.sqlite3-wal").stat().st_size < 500_000
        assert db.execute("SELECT COUNT(*) FROM rp_usage").fetchone()[0] == 12_000
    finally:
        await serving.close()
    # Another process (the CLI) reads everything from the file alone.
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*), SUM(cost) FROM rp_usage").fetchone() == (12_000, 40 * sum(range(300)))
    reader.close()


async def test_key_pages_hold_every_key_once(store) -> None:
    """The full read goes page by page (in the table's order on SQLite, by id on PostgreSQL),
    each page resuming after the last one's end; keys that come out even end with an empty read
    (no empty page)."""
    made: list[str] = []
    for count, sizes in ((7, [3, 3, 1]), (2, [3, 3, 3])):
        names = [f"p{count}-{i}" for i in range(count)]
        for name in reversed(names):  # ids made out of order
            await manage.create_key(store, {"name": name})
        made += names
        pages = [page async for page in store.key_pages(size=3)]
        assert [len(page) for page in pages] == sizes
        assert sorted(k.name for page in pages for k in page) == sorted(made)
    assert [len(page) async for page in store.key_pages(size=1000)] == [9]


async def test_keys_changed_names_only_what_changed_since(store) -> None:
    """Every statement that writes a key stamps it on the store's clock: a serving gateway
    reads back only those, twice a second, instead of every key."""
    made = [(await manage.create_key(store, {"name": f"k{i}", "balance": "1"}))[1] for i in range(4)]
    await asyncio.sleep(0.01)  # (a stamp equal to the clock read counts as changed then)
    clock = await store.clock()
    everything = [k for page in [p async for p in store.key_pages()] for k in page]
    assert sorted(k.name for k in everything) == ["k0", "k1", "k2", "k3"]
    assert sorted(k.name for k in (await store.keys_changed(clock - 60))[1]) == ["k0", "k1", "k2", "k3"]
    assert abs(clock - time.time()) < 5  # seconds since the epoch, on the store's clock
    assert (await store.keys_changed(clock + 1))[1] == []

    await asyncio.sleep(0.01)
    await store.write([], [Charge(made[0].id, to_units("0.25"), "")])  # a gateway's spend
    await store.revoke("k1", time.time())
    await store.topup("k2", to_units(2))
    await asyncio.sleep(0.01)
    after, changed = await store.keys_changed(clock)
    assert {k.name: (k.balance, k.revoked_at is not None) for k in changed} == {
        "k0": (to_units("0.75"), False), "k1": (to_units(1), True), "k2": (to_units(3), False)}
    assert after >= clock
    rotated = await store.rotate("k3", digest("sk-new"), "sk-n...new")
    assert rotated is not None
    _, last = await store.keys_changed(after)
    assert [k.digest for k in last] == [digest("sk-new")]
