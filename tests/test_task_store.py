"""The task store, on SQLite and on PostgreSQL (the same suite): a task handed out survives a
gateway restart with every field intact, writes are compare-and-set, a claimed task is handed out once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from relayport.model import (
    GatewayError,
    MediaInputs,
    MediaKind,
    MediaOutput,
    MediaRequest,
    TaskRecord,
    TaskStatus,
)
from relayport.tasks.store import TaskStore, TaskStoreProtocol, open_task_store
from tests.accounts_helpers import store_url  # noqa: F401  (fixture: a SQLite path or a PostgreSQL schema)


def task(task_id: str, status: TaskStatus = TaskStatus.QUEUED, updated_at: float = 1_700_000_000.0) -> TaskRecord:
    return TaskRecord(
        id=task_id,
        provider="dashscope",
        model="wan2.2-t2v",
        vendor_task_id=f"vendor-{task_id}",
        status=status,
        request=MediaRequest(
            MediaKind.VIDEO, "wan2.2-t2v", prompt="a cat surfing", duration=5.0, size="1280*720",
            media=MediaInputs(images=["https://x.test/first.png"]), extra={"watermark": False},
        ),
        created_at=1_700_000_000.0,
        updated_at=updated_at,
        deadline=1_700_003_600.0,
        deployment="wan-video",
    )


def error_fields(e: GatewayError | None) -> object:
    return None if e is None else (e.status, e.message, e.type, e.code, e.param, e.retryable, e.retry_after, e.extra)


def same(a: TaskRecord | None, b: TaskRecord) -> bool:
    """Field-wise equality (GatewayError, an exception, compares by identity)."""
    assert a is not None
    return attrs.evolve(a, error=None) == attrs.evolve(b, error=None) and error_fields(a.error) == error_fields(b.error)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "state" / "tasks.sqlite3")  # the parent folder does not exist yet


def opened(url: str) -> TaskStoreProtocol:
    """The store a gateway with `[server] store = url` uses (a SQLite path: that file)."""
    return open_task_store(url, url)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[TaskStoreProtocol]:  # noqa: F811
    s = opened(store_url)
    await s.open()
    yield s
    await s.close()


async def test_put_then_get(store: TaskStoreProtocol) -> None:
    t = task("t1")
    await store.put(t)
    assert await store.get("t1") == t
    assert await store.get("missing") is None


async def test_update_replaces_the_record(store: TaskStoreProtocol) -> None:
    t = task("t1")
    await store.put(t)
    running = attrs.evolve(t, status=TaskStatus.RUNNING, progress=0.4, updated_at=t.updated_at + 10)
    await store.put(running)
    assert await store.get("t1") == running
    done = attrs.evolve(
        running, status=TaskStatus.SUCCEEDED, progress=1.0, updated_at=t.updated_at + 20,
        outputs=[MediaOutput(url="https://cdn.x.test/v.mp4", media_type="video/mp4")],
    )
    await store.put(done)
    got = await store.get("t1")
    assert got == done and got is not None and got.status is TaskStatus.SUCCEEDED


async def test_unfinished_excludes_final_states(store: TaskStoreProtocol) -> None:
    for i, status in enumerate(TaskStatus):
        await store.put(task(status.value, status, updated_at=1_700_000_000.0 + i))
    open_ids = [t.id for t in await store.unfinished()]
    assert open_ids == ["queued", "running"]  # oldest update first
    assert all(not TaskStatus(i).final for i in open_ids)
    # a task moving to a final state leaves the list
    await store.put(task("running", TaskStatus.CANCELLED))
    assert [t.id for t in await store.unfinished()] == ["queued"]


async def test_unfinished_limit(store: TaskStoreProtocol) -> None:
    for i in range(5):
        await store.put(task(f"t{i}", TaskStatus.RUNNING, updated_at=1_700_000_000.0 + i))
    assert [t.id for t in await store.unfinished(limit=2)] == ["t0", "t1"]


async def test_task_survives_a_restart(store_url: str) -> None:  # noqa: F811
    failed = attrs.evolve(
        task("t-failed"),
        status=TaskStatus.FAILED,
        progress=0.9,
        outputs=[MediaOutput(url="https://cdn.x.test/partial.png", media_type="image/png", extra={"seed": 3}),
                 MediaOutput(b64="AAAA", media_type="image/png")],
        error=GatewayError(502, "dashscope: content moderation failed", code="DataInspectionFailed",
                           param="prompt", retryable=False, retry_after=1.5, extra={"request_id": "r-1"}),
    )
    running = task("t-running", TaskStatus.RUNNING)

    first = opened(store_url)
    await first.open()
    await first.put(failed)
    await first.put(running)
    await first.close()

    second = opened(store_url)  # a new process would do exactly this
    await second.open()
    try:
        got = await second.get("t-failed")
        assert same(got, failed)
        assert got is not None and isinstance(got.error, GatewayError)
        assert got.error.envelope() == failed.error.envelope()  # type: ignore[union-attr]
        assert [t.id for t in await second.unfinished()] == ["t-running"]
        assert await second.get("t-running") == running
    finally:
        await second.close()


async def test_in_memory_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = TaskStore(":memory:")
    await s.open()
    try:
        await s.put(task("m1"))
        assert await s.get("m1") == task("m1")
    finally:
        await s.close()
    assert not any(tmp_path.iterdir()), "':memory:' must not create a file"


async def test_replace_is_compare_and_set(store: TaskStoreProtocol) -> None:
    """Two writers that read the same version: the first wins, the second is refused."""
    await store.put(task("t1", TaskStatus.RUNNING))
    a = await store.get("t1")
    b = await store.get("t1")
    assert a is not None and b is not None and a.version == b.version == 0
    a.status = TaskStatus.SUCCEEDED
    b.status = TaskStatus.FAILED
    assert await store.replace(a) is True and a.version == 1
    assert await store.replace(b) is False and b.version == 0
    got = await store.get("t1")
    assert got is not None and got.status is TaskStatus.SUCCEEDED and got.version == 1
    # a batch: per-task answers in order, one stale entry does not spoil the others
    await store.put(task("t2", TaskStatus.RUNNING))
    fresh = await store.get("t2")
    stale = await store.get("t1")
    assert fresh is not None and stale is not None
    stale.version = 0
    assert await store.replace_many([fresh, stale]) == [True, False]


async def test_due_lists_open_tasks_whose_poll_is_due(store: TaskStoreProtocol) -> None:
    for i, status in enumerate([TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED]):
        t = task(f"d{i}", status)
        t.next_poll_at = 100.0 + i
        await store.put(t)
    assert [t.id for t in await store.due(101.5, 10)] == ["d0", "d1"]
    assert [t.id for t in await store.due(1e9, 10)] == ["d0", "d1", "d2"]  # never the finished one
    assert await store.next_due() == 100.0


async def test_old_schema_files_gain_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE tasks (id TEXT PRIMARY KEY, provider TEXT NOT NULL, status TEXT NOT NULL, "
                     "deadline REAL NOT NULL, updated_at REAL NOT NULL, record BLOB NOT NULL);")
    db.close()
    s = TaskStore(str(path))
    await s.open()
    try:
        await s.put(task("n1"))
        assert [t.id for t in await s.due(1e12, 5)] == ["n1"]
    finally:
        await s.close()


async def test_due_with_a_lease_claims_what_it_hands_out(store: TaskStoreProtocol) -> None:
    """Two pollers sharing the store: a due task goes to one of them, and comes back once its
    lease runs out (the instance that claimed it died mid-poll) or its poll wrote a new time."""
    for i in range(3):
        t = task(f"c{i}", TaskStatus.RUNNING)
        t.next_poll_at = 100.0 + i
        await store.put(t)
    first = await store.due(200.0, 2, lease=30.0)
    assert [t.id for t in first] == ["c0", "c1"]
    assert [t.id for t in await store.due(200.0, 10, lease=30.0)] == ["c2"]  # the others are claimed
    assert await store.due(229.0, 10, lease=30.0) == []
    assert await store.next_due() == 230.0
    # a poll that ends writes its own next time (compare-and-set: the claim did not bump the version)
    first[0].next_poll_at = 500.0
    assert await store.replace(first[0])
    assert [t.id for t in await store.due(231.0, 10, lease=30.0)] == ["c1", "c2"]  # c0 not before 500
    # without a lease, a plain look that claims nothing
    assert [t.id for t in await store.due(1000.0, 10)] == ["c1", "c2", "c0"]
    assert [t.id for t in await store.due(1000.0, 10)] == ["c1", "c2", "c0"]


async def test_concurrent_claims_never_hand_out_a_task_twice(store_url: str) -> None:  # noqa: F811
    """Two store connections (two instances) claiming at once split the due tasks between them."""
    import asyncio

    a, b = opened(store_url), opened(store_url)
    await a.open()
    await b.open()
    try:
        for i in range(40):
            t = task(f"k{i:02}", TaskStatus.QUEUED)
            t.next_poll_at = float(i)
            await a.put(t)
        got: list[str] = []
        for _ in range(5):
            rounds = await asyncio.gather(*(s.due(100.0, 6, lease=60.0) for s in (a, b, a, b)))
            got += [t.id for r in rounds for t in r]
        assert sorted(got) == [f"k{i:02}" for i in range(40)]  # each once
    finally:
        await a.close()
        await b.close()


async def test_chores_are_claimed_when_due(store: TaskStoreProtocol) -> None:
    done = task("h1", TaskStatus.SUCCEEDED)
    done.callback_url = "https://hooks.x.test/cb"
    done.callback_state = "pending"
    done.next_poll_at = 0.0
    later = attrs.evolve(done, id="h2", next_poll_at=500.0)
    await store.put(done)
    await store.put(later)
    assert {t.id for t in await store.with_chores(10)} == {"h1", "h2"}  # every task with chores
    assert [t.id for t in await store.with_chores(10, now=100.0, lease=60.0)] == ["h1"]
    assert await store.with_chores(10, now=100.0, lease=60.0) == []  # claimed until 160
    assert [t.id for t in await store.with_chores(10, now=600.0, lease=60.0)] == ["h1", "h2"]
    assert sorted(await store.counts()) == [("dashscope", "succeeded", 2)]
    assert await store.delete("h2") is True and await store.delete("h2") is False
