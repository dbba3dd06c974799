"""The task store on PostgreSQL (`relayport[postgres]`), so several gateway instances share tasks.

Selected by `[server] store = "postgresql://..."`, the database that already holds keys and
usage. What holds across instances, and how:

- a task is finished once and its callback queued once: every write after the first is
  compare-and-set on the `version` column, checked by the UPDATE itself;
- a due task is polled by one instance at a time: `due` claims the tasks it hands out
  (`FOR UPDATE SKIP LOCKED`, then their `next_poll_at` moves `lease` seconds on), so another
  instance's poller skips them until the poll writes its own next time, or the lease runs out
  because the instance died mid-poll.
"""

from __future__ import annotations

from typing import Any

from relayport.model.media import TaskRecord
from relayport.tasks.codec import dump_task, load_task

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS rp_tasks (
        id TEXT PRIMARY KEY, provider TEXT NOT NULL, status TEXT NOT NULL,
        deadline DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        owner TEXT NOT NULL, next_poll_at DOUBLE PRECISION NOT NULL, chores BOOLEAN NOT NULL,
        version BIGINT NOT NULL, record BYTEA NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rp_tasks_due ON rp_tasks (next_poll_at) WHERE status IN ('queued', 'running')",
    "CREATE INDEX IF NOT EXISTS rp_tasks_chores ON rp_tasks (next_poll_at) WHERE chores",
)
_OPEN = "status IN ('queued', 'running')"
# Advisory lock id for schema creation (the keys store uses its own).
_SCHEMA_LOCK = 7261391


def _values(task: TaskRecord) -> tuple[Any, ...]:
    return (task.id, task.provider, task.status.value, task.deadline, task.updated_at, task.owner,
            task.next_poll_at, task.has_chores, task.version, dump_task(task))


def _load(version: int, record: bytes) -> TaskRecord:
    task = load_task(record)
    task.version = version  # the column is the truth (see tasks.store._load)
    return task


class PostgresTaskStore:
    """`TaskStoreProtocol` over an asyncpg pool. The URL's query parameters other than libpq's
    own are server settings (`?search_path=relayport` keeps the table in a schema)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None

    async def open(self) -> None:
        from relayport.accounts.store import StoreError

        try:
            import asyncpg
        except ImportError:
            raise StoreError("a postgresql:// store needs asyncpg: pip install 'relayport[postgres]'") from None
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")  # instances starting together
            for ddl in _SCHEMA:
                await conn.execute(ddl)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> Any:
        assert self._pool is not None, "PostgresTaskStore.open() was not awaited"
        return self._pool

    async def put(self, task: TaskRecord) -> None:
        await self.pool.execute(
            "INSERT INTO rp_tasks (id, provider, status, deadline, updated_at, owner, next_poll_at, chores, "
            "version, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET "
            "provider = EXCLUDED.provider, status = EXCLUDED.status, deadline = EXCLUDED.deadline, "
            "updated_at = EXCLUDED.updated_at, owner = EXCLUDED.owner, next_poll_at = EXCLUDED.next_poll_at, "
            "chores = EXCLUDED.chores, version = EXCLUDED.version, record = EXCLUDED.record",
            *_values(task))

    async def replace(self, task: TaskRecord) -> bool:
        return (await self.replace_many([task]))[0]

    async def replace_many(self, tasks: list[TaskRecord]) -> list[bool]:
        """Compare-and-set a batch: one UPDATE over arrays per round, in one transaction. A task
        twice in the batch goes in a later round, so it is judged against the first write, as
        one statement after another would."""
        if not tasks:
            return []
        rounds: list[list[int]] = []
        seen: dict[str, int] = {}
        for i, task in enumerate(tasks):
            n = seen.get(task.id, 0)
            seen[task.id] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(i)
        ok = [False] * len(tasks)
        async with self.pool.acquire() as conn, conn.transaction():
            for idx in rounds:
                cols = list(zip(*(_values(tasks[i]) for i in idx), strict=True))
                done = await conn.fetch(
                    "UPDATE rp_tasks t SET provider = v.provider, status = v.status, deadline = v.deadline, "
                    "updated_at = v.updated_at, owner = v.owner, next_poll_at = v.next_poll_at, "
                    "chores = v.chores, version = t.version + 1, record = v.record "
                    "FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::text[], "
                    "$7::float8[], $8::bool[], $9::int8[], $10::bytea[]) "
                    "AS v(id, provider, status, deadline, updated_at, owner, next_poll_at, chores, version, record) "
                    "WHERE t.id = v.id AND t.version = v.version RETURNING t.id",
                    *(list(c) for c in cols))
                won = {r[0] for r in done}
                for i in idx:
                    ok[i] = tasks[i].id in won
        for task, good in zip(tasks, ok, strict=True):
            if good:
                task.version += 1
        return ok

    async def get(self, task_id: str) -> TaskRecord | None:
        row = await self.pool.fetchrow("SELECT version, record FROM rp_tasks WHERE id = $1", task_id)
        return _load(row[0], row[1]) if row is not None else None

    async def delete(self, task_id: str) -> bool:
        status = await self.pool.execute("DELETE FROM rp_tasks WHERE id = $1", task_id)
        return bool(status.endswith(" 1"))

    async def unfinished(self, limit: int = 100) -> list[TaskRecord]:
        rows = await self.pool.fetch(
            f"SELECT version, record FROM rp_tasks WHERE {_OPEN} ORDER BY updated_at LIMIT $1", limit)
        return [_load(r[0], r[1]) for r in rows]

    async def _claim(self, where: str, now: float, limit: int, exclude: frozenset[str],
                     lease: float) -> list[TaskRecord]:
        if lease > 0:
            # Rows another instance is claiming right now are skipped, not waited for.
            rows = await self.pool.fetch(
                "UPDATE rp_tasks t SET next_poll_at = $1::float8 + $4::float8 FROM (SELECT id FROM rp_tasks "
                f"WHERE {where} AND next_poll_at <= $1 AND NOT (id = ANY($3::text[])) ORDER BY next_poll_at "
                "LIMIT $2 FOR UPDATE SKIP LOCKED) d WHERE t.id = d.id RETURNING t.version, t.record",
                now, limit, list(exclude), lease)
            found = [_load(r[0], r[1]) for r in rows]
            found.sort(key=lambda t: t.next_poll_at)  # RETURNING has no order; the record keeps the due time
            return found
        rows = await self.pool.fetch(
            f"SELECT version, record FROM rp_tasks WHERE {where} AND next_poll_at <= $1 "
            "AND NOT (id = ANY($3::text[])) ORDER BY next_poll_at LIMIT $2", now, limit, list(exclude))
        return [_load(r[0], r[1]) for r in rows]

    async def due(self, now: float, limit: int, exclude: frozenset[str] = frozenset(),
                  lease: float = 0.0) -> list[TaskRecord]:
        return await self._claim(_OPEN, now, limit, exclude, lease)

    async def next_due(self) -> float | None:
        value = await self.pool.fetchval(f"SELECT MIN(next_poll_at) FROM rp_tasks WHERE {_OPEN}")
        return None if value is None else float(value)

    async def with_chores(self, limit: int, now: float | None = None, lease: float = 0.0) -> list[TaskRecord]:
        if now is None:
            rows = await self.pool.fetch("SELECT version, record FROM rp_tasks WHERE chores LIMIT $1", limit)
            return [_load(r[0], r[1]) for r in rows]
        return await self._claim("chores", now, limit, frozenset(), lease)

    async def counts(self) -> list[tuple[str, str, int]]:
        rows = await self.pool.fetch("SELECT provider, status, COUNT(*) FROM rp_tasks GROUP BY provider, status")
        return [(str(p), str(s), int(n)) for p, s, n in rows]
