"""Shared by the keys/usage tests: the same suite runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
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


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store: a SQLite file, or a schema of its own in the test PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "state.sqlite3")
        return
    schema = "rp_test_" + secrets.token_hex(6)
    asyncio.run(_pg(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG}?search_path={schema}"
    finally:
        asyncio.run(_pg(f"DROP SCHEMA {schema} CASCADE"))
