"""The task store: one SQLite file by default, so a restart loses no task.

SQLite calls are short and run in a worker thread so they never block the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

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
_FINAL = ("succeeded", "failed", "cancelled")


class TaskStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        def _open() -> sqlite3.Connection:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            return db

        self._db = await asyncio.to_thread(_open)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)

    async def _run(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        assert self._db is not None, "TaskStore.open() was not awaited"
        db = self._db
        async with self._lock:
            return await asyncio.to_thread(lambda: db.execute(sql, params).fetchall())

    async def put(self, task: TaskRecord) -> None:
        await self._run(
            "INSERT OR REPLACE INTO tasks (id, provider, status, deadline, updated_at, record) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (task.id, task.provider, task.status.value, task.deadline, task.updated_at, dump_task(task)),
        )

    async def get(self, task_id: str) -> TaskRecord | None:
        rows = await self._run("SELECT record FROM tasks WHERE id = ?", (task_id,))
        return load_task(rows[0][0]) if rows else None  # type: ignore[arg-type]

    async def unfinished(self, limit: int = 100) -> list[TaskRecord]:
        rows = await self._run(
            "SELECT record FROM tasks WHERE status NOT IN (?, ?, ?) ORDER BY updated_at LIMIT ?",
            (*_FINAL, limit),
        )
        return [load_task(r[0]) for r in rows]  # type: ignore[arg-type]
