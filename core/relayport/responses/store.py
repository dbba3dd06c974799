"""Stored Responses (`store: true`, `previous_response_id`) for translated vendors.

One SQLite table in the gateway's state file (`server.state_path`, beside the task store).
A response is bound to the gateway key that created it: it is stored under the key's
SHA-256, and another key gets 404 for it, as if it did not exist. Rows expire after
`responses.ttl_seconds` (30 days by default, OpenAI's own retention); expired rows are
invisible at once and deleted on later writes.

A background response also has a row in `response_jobs` until its outcome is stored: what it
takes to run it again (relayport.server.responses_background), so a restart resumes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from typing import Any

import orjson

from relayport import sqlite_state

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    owner BLOB NOT NULL,
    expires_at REAL NOT NULL,
    response BLOB NOT NULL,
    input_items BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
CREATE TABLE IF NOT EXISTS response_jobs (
    id TEXT PRIMARY KEY,
    owner BLOB NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,
    job BLOB NOT NULL
);
"""


_PURGE_EVERY = 60.0  # seconds between deletions of expired rows


def owner_of(key: str | None) -> bytes:
    """What a response is bound to: the digest of the presented key (b"" on a keyless gateway)."""
    return hashlib.sha256(key.encode()).digest() if key else b""


class ResponseStore:
    def __init__(self, path: str, ttl_seconds: float) -> None:
        self.path = path
        self.ttl = ttl_seconds
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        # Background responses being worked on in this process, by id.
        self.running: dict[str, asyncio.Task[None]] = {}
        # Set while the gateway stops: a background run stopped by it is left to the next start.
        self.closing = False
        self._purged = 0.0

    async def open(self) -> None:
        def _open() -> sqlite3.Connection:
            db = sqlite_state.connect(self.path)
            db.executescript(_SCHEMA)
            return db

        self._db = await asyncio.to_thread(_open)

    async def close(self) -> None:
        self.closing = True
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)  # each stays queued in `response_jobs` for the next start
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)

    async def _run(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        assert self._db is not None, "ResponseStore.open() was not awaited"
        db = self._db
        async with self._lock:
            return await asyncio.to_thread(lambda: db.execute(sql, params).fetchall())

    async def put(self, owner: bytes, response: dict[str, Any], input_items: list[dict[str, Any]]) -> None:
        now = time.time()
        row = (response["id"], owner, now + self.ttl, orjson.dumps(response), orjson.dumps(input_items))
        purge = now - self._purged > _PURGE_EVERY
        if purge:
            self._purged = now
        assert self._db is not None, "ResponseStore.open() was not awaited"
        db = self._db

        def write() -> None:
            # One trip to the worker thread per response; expired rows go now and then, not on
            # every write (they are invisible to reads already).
            if purge:
                db.execute("DELETE FROM responses WHERE expires_at < ?", (now,))
            db.execute("INSERT OR REPLACE INTO responses (id, owner, expires_at, response, input_items) "
                       "VALUES (?, ?, ?, ?, ?)", row)

        async with self._lock:
            await asyncio.to_thread(write)

    async def get(self, owner: bytes, response_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        rows = await self._run(
            "SELECT response, input_items FROM responses WHERE id = ? AND owner = ? AND expires_at >= ?",
            (response_id, owner, time.time()),
        )
        if not rows:
            return None
        return orjson.loads(rows[0][0]), orjson.loads(rows[0][1])

    async def delete(self, owner: bytes, response_id: str) -> bool:
        found = await self._run("SELECT 1 FROM responses WHERE id = ? AND owner = ? AND expires_at >= ?",
                                (response_id, owner, time.time()))
        if found:
            await self._run("DELETE FROM responses WHERE id = ?", (response_id,))
            await self.drop_job(response_id)
        return bool(found)

    # ------------------------------------------------------------ background jobs

    async def put_job(self, owner: bytes, response_id: str, job: dict[str, Any]) -> None:
        await self._run("INSERT OR REPLACE INTO response_jobs (id, owner, runs, job) VALUES (?, ?, 0, ?)",
                        (response_id, owner, orjson.dumps(job)))

    async def start_job(self, response_id: str, step: int = 1) -> None:
        """Count one more run of the job (a run the process died in counts too); `step=-1`
        takes back a run a graceful stop interrupted."""
        await self._run("UPDATE response_jobs SET runs = MAX(runs + ?, 0) WHERE id = ?", (step, response_id))

    async def jobs(self) -> list[tuple[str, bytes, int, dict[str, Any]]]:
        """Every unfinished background job: (response id, owner, runs started, job)."""
        rows = await self._run("SELECT id, owner, runs, job FROM response_jobs", ())
        return [(r[0], r[1], r[2], orjson.loads(r[3])) for r in rows]

    async def drop_job(self, response_id: str) -> None:
        await self._run("DELETE FROM response_jobs WHERE id = ?", (response_id,))
