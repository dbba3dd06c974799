"""The task store: one SQLite file by default, so a restart loses no task (PostgreSQL, shared by
several gateway instances, is `relayport.tasks.pg_store`; `open_task_store` picks one).

SQLite calls are short and run in a worker thread so they never block the event loop; the
poller writes a whole batch of updates in one thread hop. Updates are compare-and-set on a
version number, so two pollers (the background one and a client's early poll) never both
finish a task, and a task's callback is queued once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from relayport import sqlite_state
from relayport.model.media import TaskRecord
from relayport.tasks.codec import dump_task, load_task

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    deadline REAL NOT NULL,
    updated_at REAL NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (status, updated_at);
"""
# Columns added after the first release of the schema (ALTERed into older files).
_COLUMNS = {
    "owner": "TEXT NOT NULL DEFAULT 'anonymous'",
    "next_poll_at": "REAL NOT NULL DEFAULT 0",
    "chores": "INTEGER NOT NULL DEFAULT 0",
    "version": "INTEGER NOT NULL DEFAULT 0",
}
_INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (next_poll_at) WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS tasks_chores ON tasks (chores) WHERE chores = 1;
"""
_FINAL = ("succeeded", "failed", "cancelled")
_COLS = "id, provider, status, deadline, updated_at, owner, next_poll_at, chores, version, record"

T = TypeVar("T")


class TaskStoreProtocol(Protocol):
    """What the runner, poller and routes need from a store (SQLite here, PostgreSQL in pg_store).

    `due` and `with_chores` with a `lease` claim what they return: those tasks' next poll moves
    `lease` seconds on, so a poller sharing the store skips them meanwhile."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def put(self, task: TaskRecord) -> None: ...
    async def replace(self, task: TaskRecord) -> bool: ...
    async def replace_many(self, tasks: list[TaskRecord]) -> list[bool]: ...
    async def get(self, task_id: str) -> TaskRecord | None: ...
    async def due(self, now: float, limit: int, exclude: frozenset[str] = frozenset(),
                  lease: float = 0.0) -> list[TaskRecord]: ...
    async def next_due(self) -> float | None: ...
    async def delete(self, task_id: str) -> bool: ...
    async def unfinished(self, limit: int = 100) -> list[TaskRecord]: ...
    async def with_chores(self, limit: int, now: float | None = None, lease: float = 0.0) -> list[TaskRecord]: ...
    async def counts(self) -> list[tuple[str, str, int]]: ...


def open_task_store(url: str, state_path: str) -> TaskStoreProtocol:
    """The store `[server] store` names: PostgreSQL for a postgresql:// URL (shared with the keys
    and usage), else the state file (a SQLite store URL keeps keys there, tasks stay in the state file)."""
    if url.startswith(("postgresql://", "postgres://")):
        from relayport.tasks.pg_store import PostgresTaskStore

        return PostgresTaskStore(url)
    return TaskStore(state_path)


def _row(task: TaskRecord) -> tuple[object, ...]:
    return (task.id, task.provider, task.status.value, task.deadline, task.updated_at, task.owner,
            task.next_poll_at, int(task.has_chores), task.version, dump_task(task))


def _load(row: tuple[Any, ...]) -> TaskRecord:
    task = load_task(row[1])
    task.version = row[0]  # the column is the truth; the record keeps the version it was read at
    return task


class TaskStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        # A cancelled caller leaves its query running in the thread: closing the connection
        # under it crashes SQLite (seen as a segfault when a gateway stops), so close waits.
        self._guard = threading.Lock()

    async def open(self) -> None:
        def _open() -> sqlite3.Connection:
            db = sqlite_state.connect(self.path)
            db.executescript(_SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
            for name, decl in _COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {decl}")
            db.executescript(_INDEXES)
            return db

        self._db = await asyncio.to_thread(_open)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(self._guarded, sqlite3.Connection.close, db)

    async def _in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        assert self._db is not None, "TaskStore.open() was not awaited"
        db = self._db
        async with self._lock:
            return await asyncio.to_thread(self._guarded, work, db)

    def _guarded(self, work: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
        with self._guard:
            return work(db)

    async def _run(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        return await self._in_thread(lambda db: db.execute(sql, params).fetchall())

    async def put(self, task: TaskRecord) -> None:
        """Write a task as it is (a new task, or one only this caller holds)."""
        await self._run(f"INSERT OR REPLACE INTO tasks ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        _row(task))

    async def replace(self, task: TaskRecord) -> bool:
        """Write `task` if nobody wrote it since it was read; False (and no write) otherwise."""
        return (await self.replace_many([task]))[0]

    async def replace_many(self, tasks: list[TaskRecord]) -> list[bool]:
        """Compare-and-set several tasks in one transaction (one thread hop for a poll batch)."""
        if not tasks:
            return []

        def work(db: sqlite3.Connection) -> list[bool]:
            out: list[bool] = []
            db.execute("BEGIN")
            try:
                for task in tasks:
                    row = _row(task)
                    cur = db.execute(
                        "UPDATE tasks SET provider = ?, status = ?, deadline = ?, updated_at = ?, owner = ?, "
                        "next_poll_at = ?, chores = ?, version = ?, record = ? WHERE id = ? AND version = ?",
                        (*row[1:8], task.version + 1, row[9], task.id, task.version),
                    )
                    out.append(cur.rowcount == 1)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return out

        done = await self._in_thread(work)
        for task, ok in zip(tasks, done, strict=True):
            if ok:
                task.version += 1
        return done

    async def get(self, task_id: str) -> TaskRecord | None:
        rows = await self._run("SELECT version, record FROM tasks WHERE id = ?", (task_id,))
        return _load(rows[0]) if rows else None

    async def delete(self, task_id: str) -> bool:
        """Remove a task; False when there was none."""

        def work(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM tasks WHERE id = ?", (task_id,)).rowcount == 1

        return await self._in_thread(work)

    async def unfinished(self, limit: int = 100) -> list[TaskRecord]:
        rows = await self._run(
            "SELECT version, record FROM tasks WHERE status NOT IN (?, ?, ?) ORDER BY updated_at LIMIT ?",
            (*_FINAL, limit),
        )
        return [_load(r) for r in rows]

    async def due(self, now: float, limit: int, exclude: frozenset[str] = frozenset(),
                  lease: float = 0.0) -> list[TaskRecord]:
        """Open tasks whose next poll is due, the most overdue first; `exclude` (polls already in
        flight) are skipped before their records are decoded. With a `lease`, claimed."""
        return await self._claim("status IN ('queued', 'running')", now, limit, exclude, lease)

    async def _claim(self, where: str, now: float, limit: int, exclude: frozenset[str],
                     lease: float) -> list[TaskRecord]:
        sql = (f"SELECT id, version, record FROM tasks WHERE {where} AND next_poll_at <= ? "
               "ORDER BY next_poll_at LIMIT ?")

        def pick(db: sqlite3.Connection) -> list[Any]:
            rows = db.execute(sql, (now, limit + len(exclude))).fetchall()
            return [r for r in rows if r[0] not in exclude][:limit]

        def work(db: sqlite3.Connection) -> list[TaskRecord]:
            picked = pick(db)
            if picked and lease > 0:
                # Look again inside a write transaction, so another process sharing the file
                # cannot claim the same rows in between (and nothing is locked when none is due).
                db.execute("BEGIN IMMEDIATE")
                try:
                    picked = pick(db)
                    db.executemany("UPDATE tasks SET next_poll_at = ? WHERE id = ?",
                                   [(now + lease, r[0]) for r in picked])
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            return [_load(r[1:]) for r in picked]

        return await self._in_thread(work)

    async def next_due(self) -> float | None:
        rows = await self._run(
            "SELECT MIN(next_poll_at) FROM tasks WHERE status IN ('queued', 'running')", ())
        return rows[0][0] if rows and rows[0][0] is not None else None

    async def with_chores(self, limit: int, now: float | None = None, lease: float = 0.0) -> list[TaskRecord]:
        """Final tasks whose result is still to be stored or whose callback is still to be sent
        (with `now`: only those due by then, claimed for `lease` seconds)."""
        if now is not None:
            return await self._claim("chores = 1", now, limit, frozenset(), lease)
        rows = await self._run("SELECT version, record FROM tasks WHERE chores = 1 LIMIT ?", (limit,))
        return [_load(r) for r in rows]

    async def counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, number of tasks) for every pair there is: `/metrics` reads it."""
        rows = await self._run("SELECT provider, status, COUNT(*) FROM tasks GROUP BY provider, status", ())
        return [(str(p), str(s), int(n)) for p, s, n in rows]
