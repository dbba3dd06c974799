"""Shared by the keys/usage tests: the same suite runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG = "postgresql://postgres@127.0.0.1:5432/test"


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _drop(schema: str) -> None:
    """Drop a test's schema. A gateway the test started may still be flushing its usage batch
    into it (fixtures are torn down in reverse order, so the store's fixture can go first):
    PostgreSQL then reports a deadlock between the DROP and that INSERT and aborts one of them;
    the writer finishes within moments, so the DROP is tried again."""
    import asyncpg

    deadline = time.monotonic() + 10
    while True:
        try:
            return await _pg(f"DROP SCHEMA {schema} CASCADE")
        except (asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A store URL on a fresh schema of the test PostgreSQL database, dropped afterwards."""
    schema = "rp_test_" + secrets.token_hex(6)
    asyncio.run(_pg(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG}?search_path={schema}"
    finally:
        asyncio.run(_drop(schema))


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store: a SQLite file, or a schema of its own in the test PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "state.sqlite3")
        return
    with pg_schema() as url:
        yield url
