"""The usage meter between calls and the store: what a key is charged, what a row holds, and what
survives a store that cannot be written; the balance header's text; a key's expiry in memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from relayport.accounts.live import OVERLAP, Accounts
from relayport.accounts.money import format_amount, from_units, to_units
from relayport.accounts.prices import MediaUnits, Price, PriceTable
from relayport.accounts.records import KeyRecord, digest, period_of
from relayport.accounts.store import KEY_PAGE, USAGE_COLUMNS, Charge, SQLiteStore
from relayport.calls import CallRecord
from relayport.model.errors import GatewayError
from relayport.model.usage import Usage


@pytest.mark.parametrize("units, text", [
    (0, "0"), (5, "0.0000000005"), (-5, "-0.0000000005"), (10**10, "1"), (10**11, "10"),
    (15 * 10**9, "1.5"), (-25 * 10**9, "-2.5"), (10**18 - 351, "99999999.9999999649"),
    (123 * 10**10 + 4, "123.0000000004"), (10**10 - 1, "0.9999999999"), (-(10**10) - 1, "-1.0000000001"),
    (7 * 10**17, "70000000"),
])
def test_balance_text_has_no_exponent_and_no_trailing_zeros(units: int, text: str) -> None:
    assert format_amount(units) == text
    assert format(from_units(units), "f") == text  # the Decimal the rest of the code uses agrees


class FlakyStore:
    """Records what the meter writes; fails the first `failures` writes."""

    def __init__(self, keys: list[KeyRecord], failures: int) -> None:
        self.records = keys
        self.failures = failures
        self.writes: list[tuple[list[Sequence[Any]], list[Charge]]] = []

    async def keys(self) -> list[KeyRecord]:
        return self.records

    async def clock(self) -> float:
        return time.time()

    async def keys_changed(self, since: float) -> tuple[float, list[KeyRecord]]:
        return time.time(), self.records  # as if every key changed each time

    async def key_pages(self) -> AsyncIterator[list[KeyRecord]]:
        yield self.records

    async def write(self, rows: list[Sequence[Any]], charges: list[Charge]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        self.writes.append((rows, charges))


PRICE = Price.parse({"input": 1, "output": 2}, "price")  # per million tokens


def _call(key_id: str | None, prompt: int, completion: int) -> CallRecord:
    return CallRecord(request_id="r", caller=key_id, model="m", provider="openai", deployment="openai/m",
                      upstream_model="m", status=200, error=None,
                      usage=Usage(input_tokens=prompt, output_tokens=completion), latency=0.5)


async def _meter(keys: list[KeyRecord], failures: int = 0) -> tuple[Accounts, FlakyStore]:
    store = FlakyStore(keys, failures)
    accounts = Accounts(store, PriceTable({"m": PRICE}), usage_log=True)  # type: ignore[arg-type]
    await accounts.refresh()
    return accounts, store


async def test_charges_are_summed_per_key_and_period_and_kept_when_a_write_fails() -> None:
    month = KeyRecord(id="k1", name="monthly", digest=digest("a"), hint="a", budget=10**12, period="month")
    prepaid = KeyRecord(id="k2", name="prepaid", digest=digest("b"), hint="b", balance=to_units(1))
    accounts, store = await _meter([month, prepaid], failures=1)
    for key_id, prompt, completion in (("k1", 1000, 500), ("k2", 3000, 0), ("k1", 10, 20), (None, 7, 7)):
        accounts.observe(_call(key_id, prompt, completion))
    # 1000 + 2 * 500 = 2000 and 10 + 2 * 20 = 50 millionths for k1; 3000 for k2.
    k1, k2 = accounts.by_id["k1"], accounts.by_id["k2"]
    assert (k1.pending, k2.pending) == (to_units("0.00205"), to_units("0.003"))
    assert k2.balance() == to_units("0.997")

    await accounts.flush()  # the store is down: nothing is lost, the balance still counts the calls
    assert store.writes == []
    assert k2.balance() == to_units("0.997")
    accounts.observe(_call("k2", 1000, 0))

    await accounts.flush()
    [(rows, charges)] = store.writes
    assert sorted(charges) == [Charge("k1", to_units("0.00205"), period_of("month", time.time())),
                               Charge("k2", to_units("0.004"), "")]
    assert [(r[USAGE_COLUMNS.index("key_id")], r[USAGE_COLUMNS.index("cost")]) for r in rows] == [
        ("k1", to_units("0.002")), ("k2", to_units("0.003")), ("k1", to_units("0.00005")),
        (None, to_units("0.000021")), ("k2", to_units("0.001"))]
    assert (k1.pending, k2.pending) == (0, 0)  # now in the store, not counted twice


async def test_the_record_carries_its_cost_and_an_unpriced_call_costs_unknown() -> None:
    accounts, _ = await _meter([])
    priced, unpriced = _call(None, 1000, 500), _call(None, 1000, 500)
    unpriced.model = unpriced.upstream_model = "other"
    accounts.observe(priced)
    accounts.observe(unpriced)
    assert priced.cost == Decimal("0.002") and unpriced.cost is None


async def test_a_key_stops_when_it_expires_between_refreshes() -> None:
    soon = KeyRecord(id="k1", name="soon", digest=digest("sk-soon"), hint="s", expires_at=time.time() + 0.3)
    accounts, store = await _meter([soon])
    assert accounts.lookup("sk-soon").record.name == "soon"
    time.sleep(0.35)  # no refresh in between: the key's end is checked per call
    with pytest.raises(GatewayError) as err:
        accounts.lookup("sk-soon")
    assert err.value.status == 401 and "expired" in str(err.value)

    store.records = [KeyRecord(id="k1", name="soon", digest=digest("sk-soon"), hint="s", revoked_at=time.time())]
    await accounts.refresh()
    with pytest.raises(GatewayError) as err:
        accounts.lookup("sk-soon")
    assert err.value.status == 401 and "revoked" in str(err.value)


async def test_usage_rows_store_the_columns_some_row_fills_and_null_elsewhere(tmp_path: Path) -> None:
    from relayport.accounts.live import record_row

    store = SQLiteStore(str(tmp_path / "state.sqlite3"), inline_writes=True)
    await store.open()
    try:
        media = _call("k1", 0, 0)
        media.usage, media.media = None, MediaUnits(images=2)
        tokens = _call("k1", 30, 40)
        await store.write([record_row(tokens, 7), record_row(media, 9)], [])
        got = await store._fetch("SELECT prompt_tokens, completion_tokens, images, media_seconds, audio_tokens, "
                                 "cost FROM rp_usage ORDER BY cost")
        assert [tuple(r) for r in got] == [(30, 40, None, None, None, 7), (None, None, 2, 0.0, None, 9)]
        await store.write([record_row(tokens, 5)], [])  # a batch with no media: those columns are left out
        got = await store._fetch("SELECT prompt_tokens, images, cost FROM rp_usage WHERE cost = 5")
        assert [tuple(r) for r in got] == [(30, None, 5)]
    finally:
        await store.close()


async def test_a_rotated_key_old_secret_stops_at_the_next_refresh() -> None:
    accounts, store = await _meter([KeyRecord(id="k1", name="k", digest=digest("sk-old"), hint="o")])
    assert accounts.lookup("sk-old").record.id == "k1"  # remembered from here on
    store.records = [KeyRecord(id="k1", name="k", digest=digest("sk-new"), hint="n")]
    await accounts.refresh()
    with pytest.raises(GatewayError) as err:
        accounts.lookup("sk-old")
    assert err.value.status == 401
    assert accounts.lookup("sk-new").record.id == "k1"


async def test_a_refresh_reads_only_the_keys_another_process_changed(tmp_path: Path) -> None:
    """The gateway's view follows the store (another process here: the CLI) while reading only
    what changed: 300 keys, one revoked, one rotated, one topped up."""
    from relayport.accounts import manage

    path = str(tmp_path / "state.sqlite3")
    cli = SQLiteStore(path)
    await cli.open()
    serving = SQLiteStore(path, inline_writes=True)
    await serving.open()
    accounts = Accounts(serving, PriceTable({}), usage_log=None)
    try:
        secrets = {}
        for i in range(300):
            secrets[i], _ = await manage.create_key(cli, {"name": f"k{i}", "balance": "1"})
        read: list[int] = []  # keys read by each refresh
        changed, pages = serving.keys_changed, serving.key_pages

        async def counted(since: float) -> tuple[float, list[KeyRecord]]:
            clock, keys = await changed(since)
            read.append(len(keys))
            return clock, keys

        async def counted_pages() -> AsyncIterator[list[KeyRecord]]:
            read.append(0)
            async for page in pages():
                read[-1] += len(page)
                yield page

        serving.keys_changed = counted  # type: ignore[method-assign]
        serving.key_pages = counted_pages  # type: ignore[method-assign]
        await accounts.refresh()
        assert read == [300] and accounts.lookup(secrets[7]).record.name == "k7"
        await accounts.refresh()  # the stamps since the last look, less OVERLAP seconds, are read
        assert read[-1] == 300  # (all 300 were made within the last OVERLAP seconds)
        await asyncio.sleep(OVERLAP + 0.1)
        await accounts.refresh()
        await accounts.refresh()  # looking from a moment OVERLAP past the creations
        assert read[-1] == 0

        await cli.revoke("k1", time.time())
        await cli.topup("k2", to_units(4))
        await cli.rotate("k3", digest("sk-rotated"), "sk-r...ated")
        await accounts.refresh()
        assert read[-1] == 3
        with pytest.raises(GatewayError) as err:
            accounts.lookup(secrets[1])
        assert "revoked" in err.value.message
        assert accounts.lookup(secrets[2]).balance() == to_units(5)
        with pytest.raises(GatewayError):
            accounts.lookup(secrets[3])  # the old secret stops ...
        assert accounts.lookup("sk-rotated").record.name == "k3"  # ... the new one works
        assert len(accounts.by_id) == len(accounts.by_digest) == 300
    finally:
        await serving.close()
        await cli.close()


async def test_reading_every_key_lets_calls_in_between_pages(tmp_path: Path) -> None:
    """The full read (at start and once a minute) goes KEY_PAGE keys at a time and gives the
    event loop back between pages: 10,000 keys read at once held it 70-80 ms."""
    path = str(tmp_path / "state.sqlite3")
    cli = SQLiteStore(path)
    await cli.open()
    total = 2 * KEY_PAGE + 7
    for i in range(total):
        await cli.create_key(KeyRecord(id=f"k{i:05}", name=f"k{i}", digest=digest(f"sk-{i}"), hint="h"))
    await cli.revoke("k5", time.time())
    serving = SQLiteStore(path, inline_writes=True)
    await serving.open()
    accounts = Accounts(serving, PriceTable({}), usage_log=None)
    ticks = 0

    async def ticker() -> None:  # another task on the loop: a call being served, say
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    seen: list[tuple[int, int]] = []  # (keys in the page, ticks when it came)
    pages = serving.key_pages

    async def watched() -> AsyncIterator[list[KeyRecord]]:
        async for page in pages():
            seen.append((len(page), ticks))
            yield page

    serving.key_pages = watched  # type: ignore[method-assign]
    running = asyncio.create_task(ticker())
    try:
        await asyncio.sleep(0)
        await accounts.refresh()
        assert [n for n, _ in seen] == [KEY_PAGE, KEY_PAGE, 7]
        assert all(b > a for (_, a), (_, b) in zip(seen, seen[1:], strict=False))  # the ticker ran between
        assert len(accounts.by_id) == len(accounts.by_digest) == total
        assert accounts.lookup(f"sk-{total - 1}").record.name == f"k{total - 1}"
        with pytest.raises(GatewayError):
            accounts.lookup("sk-5")  # revoked: read like the others
    finally:
        running.cancel()
        await serving.close()
        await cli.close()
