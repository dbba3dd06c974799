"""The result store: one download per result, however many ask for it at once."""

from __future__ import annotations

import asyncio

import pytest

from relayport.model.errors import GatewayError
from relayport.tasks.results import ResultStore


class Vendor:
    """A result download that counts how often it starts and can be held mid-way."""

    def __init__(self) -> None:
        self.downloads = 0
        self.release = asyncio.Event()

    async def chunks(self):
        self.downloads += 1
        yield b"first half, "
        await self.release.wait()
        yield b"second half"


async def test_racing_requests_share_one_download(tmp_path) -> None:
    store = ResultStore(str(tmp_path), max_bytes=1 << 20, retention=3600)
    vendor = Vendor()
    background = asyncio.create_task(store.ensure("t1", 0, vendor.chunks))
    client = asyncio.create_task(store.ensure("t1", 0, vendor.chunks))
    await asyncio.sleep(0.05)
    assert not background.done() and not client.done()
    vendor.release.set()
    await asyncio.gather(background, client)
    assert vendor.downloads == 1
    assert store.path("t1", 0).read_bytes() == b"first half, second half"
    await store.ensure("t1", 0, vendor.chunks)  # stored: nothing is fetched again
    assert vendor.downloads == 1


async def test_a_client_going_away_does_not_cancel_the_copy_others_wait_for(tmp_path) -> None:
    store = ResultStore(str(tmp_path), max_bytes=1 << 20, retention=3600)
    vendor = Vendor()
    leaver = asyncio.create_task(store.ensure("t2", 0, vendor.chunks))
    stayer = asyncio.create_task(store.ensure("t2", 0, vendor.chunks))
    await asyncio.sleep(0.05)
    leaver.cancel()
    vendor.release.set()
    await stayer
    assert leaver.cancelled()
    assert store.path("t2", 0).read_bytes() == b"first half, second half"
    assert vendor.downloads == 1


async def test_a_failed_copy_fails_every_waiter_and_the_next_request_tries_again(tmp_path) -> None:
    store = ResultStore(str(tmp_path), max_bytes=16, retention=3600)  # smaller than the result
    vendor = Vendor()
    vendor.release.set()
    waiters = [asyncio.create_task(store.ensure("t3", 0, vendor.chunks)) for _ in range(2)]
    for outcome in await asyncio.gather(*waiters, return_exceptions=True):
        assert isinstance(outcome, GatewayError) and outcome.status == 507
    assert vendor.downloads == 1
    assert not store.has("t3", 0) and not list(tmp_path.glob("t3.0*"))
    with pytest.raises(GatewayError):
        await store.ensure("t3", 0, vendor.chunks)
    assert vendor.downloads == 2
