"""Where keys and the usage log live: the SQLite state file, or PostgreSQL (`relayport[postgres]`)
so several gateway instances share keys, balances and usage.

Both speak the same SQL (written with `?` placeholders, renumbered for asyncpg): `SQLStore`
holds every statement, the backends only run them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from itertools import chain
from typing import Any, NamedTuple

import attrs
import orjson

from relayport import sqlite_state
from relayport.accounts.records import KeyRecord

log = logging.getLogger("relayport.accounts")

# Seconds between WAL checkpoints at most, for a gateway writing usage inline (see SQLiteStore).
CHECKPOINT_EVERY = 2.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS rp_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, digest TEXT NOT NULL UNIQUE, hint TEXT NOT NULL,
        owner TEXT, team TEXT, models TEXT NOT NULL, rpm BIGINT, tpm BIGINT, max_concurrency BIGINT,
        budget BIGINT, period TEXT, balance BIGINT, expires_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL, revoked_at DOUBLE PRECISION,
        spent BIGINT NOT NULL DEFAULT 0, period_spent BIGINT NOT NULL DEFAULT 0,
        period_start TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS rp_usage (
        ts DOUBLE PRECISION NOT NULL, request_id TEXT, key_id TEXT, model TEXT NOT NULL,
        provider TEXT NOT NULL, deployment TEXT, upstream_model TEXT, status BIGINT NOT NULL, error TEXT,
        stream BIGINT NOT NULL, prompt_tokens BIGINT, completion_tokens BIGINT, cached_tokens BIGINT,
        cache_write_tokens BIGINT, reasoning_tokens BIGINT, audio_tokens BIGINT, image_tokens BIGINT,
        video_tokens BIGINT, images BIGINT, media_seconds DOUBLE PRECISION, latency_ms DOUBLE PRECISION,
        ttfb_ms DOUBLE PRECISION, cost BIGINT NOT NULL, characters BIGINT)""",
    "CREATE INDEX IF NOT EXISTS rp_usage_ts ON rp_usage (ts)",
)
# Columns added after a table's first release: table -> (name, type), ALTERed into older stores.
# rp_keys.changed: when the row last changed, on the store's own clock (every statement that
# writes a key sets it), so a serving gateway reads only the keys changed since its last look.
_ADDED_COLUMNS = {
    "rp_usage": (("characters", "BIGINT"),),
    "rp_keys": (("changed", "DOUBLE PRECISION NOT NULL DEFAULT 0"),),
}
# Indexes on added columns, made after them.
_ADDED_INDEXES = ("CREATE INDEX IF NOT EXISTS rp_keys_changed ON rp_keys (changed)",)

_KEY_COLUMNS = [f.name for f in attrs.fields(KeyRecord)]
USAGE_COLUMNS = (
    "ts", "request_id", "key_id", "model", "provider", "deployment", "upstream_model", "status", "error",
    "stream", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
    "reasoning_tokens", "audio_tokens", "image_tokens", "video_tokens", "images", "media_seconds",
    "latency_ms", "ttfb_ms", "cost", "characters",
)
# Summed per group in reports (media_seconds as a number of seconds, the others as integers).
TOTALS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens",
          "audio_tokens", "image_tokens", "video_tokens", "images", "media_seconds", "characters", "cost")
GROUPINGS = ("key", "model", "day")


class Charge(NamedTuple):
    """Money to take from a key: added to its spend, taken from its balance (if it has one)."""

    key_id: str
    units: int
    period_start: str


_MODELS = _KEY_COLUMNS.index("models")
_FIELDS = len(_KEY_COLUMNS)
# Keys a gateway reads at a time when it reads them all (see SQLStore.key_pages).
KEY_PAGE = 1000


def _row_to_key(row: Sequence[Any]) -> KeyRecord:
    """A key from its row (columns in KeyRecord's field order, maybe more after them):
    positional, as a full read of the keys runs this once per key on the event loop (half the
    cost of keywords)."""
    values = list(row)[:_FIELDS]
    values[_MODELS] = orjson.loads(values[_MODELS])
    return KeyRecord(*values)


class StoreError(Exception):
    """A key operation that cannot be done as asked (a name taken, ...): the message says why."""


class SQLStore(ABC):
    """Keys and usage over a DB-API-like backend; subclasses run statements."""

    day_expr: str  # SQL for the UTC day of `u.ts`
    now_expr: str  # SQL for the store's clock, in seconds since the epoch (the `changed` stamps)
    page_column: str  # what key_pages orders and resumes by: unique, cheap to scan in order
    # Usage rows per INSERT statement (at most; a power of two). 1: one row per statement,
    # which `_batch` runs over the batch with executemany.
    rows_per_insert = 1

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Execute; the number of rows changed."""

    @abstractmethod
    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    @abstractmethod
    async def _batch(self, statements: list[tuple[str, list[Sequence[Any]]]]) -> None:
        """Run each statement over its rows, all in one transaction."""

    @abstractmethod
    def _is_conflict(self, exc: BaseException) -> bool: ...

    # ------------------------------------------------------------------ keys

    async def create_key(self, rec: KeyRecord) -> None:
        row = [getattr(rec, c) for c in _KEY_COLUMNS]
        row[_MODELS] = json.dumps(rec.models)
        marks = ", ".join("?" * len(_KEY_COLUMNS))
        try:
            await self._run(f"INSERT INTO rp_keys ({', '.join(_KEY_COLUMNS)}, changed) "
                            f"VALUES ({marks}, {self.now_expr})", row)
        except Exception as exc:
            if self._is_conflict(exc):
                raise StoreError(f"a key named {rec.name!r} already exists") from None
            raise

    async def keys(self) -> list[KeyRecord]:
        rows = await self._fetch_keys(f"SELECT {', '.join(_KEY_COLUMNS)} FROM rp_keys ORDER BY created_at, id")
        return [_row_to_key(r) for r in rows]

    async def clock(self) -> float:
        """The store's clock now, in seconds since the epoch: what the `changed` stamps are on."""
        ((now,),) = await self._fetch_keys(f"SELECT {self.now_expr}")
        return float(now)

    async def keys_changed(self, since: float) -> tuple[float, list[KeyRecord]]:
        """The store's clock now, and the keys changed at or after `since` on that clock. The
        clock is read first, so a change made between the two reads comes again next time."""
        now = await self.clock()
        rows = await self._fetch_keys(f"SELECT {', '.join(_KEY_COLUMNS)} FROM rp_keys WHERE changed >= ?", [since])
        return now, [_row_to_key(r) for r in rows]

    async def key_pages(self, size: int = KEY_PAGE) -> AsyncIterator[list[KeyRecord]]:
        """Every key, `size` at a time in the table's order: a gateway reading all of its keys
        serves calls between pages (10,000 keys read at once held the event loop 70-80 ms)."""
        order = self.page_column
        after: Any = None
        while True:
            where = "" if after is None else f" WHERE {order} > ?"
            rows = await self._fetch_keys(f"SELECT {', '.join(_KEY_COLUMNS)}, {order} FROM rp_keys{where} "
                                          f"ORDER BY {order} LIMIT {int(size)}", () if after is None else [after])
            if rows:
                yield [_row_to_key(r) for r in rows]
            if len(rows) < size:
                return
            after = rows[-1][-1]

    async def _fetch_keys(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Rows of the key table (a serving gateway reads the changed ones twice a second)."""
        return await self._fetch(sql, args)

    async def find(self, ref: str) -> KeyRecord | None:
        """A key by id or by name."""
        rows = await self._fetch(f"SELECT {', '.join(_KEY_COLUMNS)} FROM rp_keys WHERE id = ? OR name = ?",
                                 [ref, ref])
        return _row_to_key(rows[0]) if rows else None

    async def revoke(self, ref: str, now: float) -> KeyRecord | None:
        await self._run(f"UPDATE rp_keys SET revoked_at = ?, changed = {self.now_expr} "
                        "WHERE (id = ? OR name = ?) AND revoked_at IS NULL", [now, ref, ref])
        return await self.find(ref)

    async def rotate(self, ref: str, digest: str, hint: str) -> KeyRecord | None:
        """A new secret for the same key (limits, spend and usage stay); the old one stops."""
        changed = await self._run(f"UPDATE rp_keys SET digest = ?, hint = ?, changed = {self.now_expr} "
                                  "WHERE id = ? OR name = ?", [digest, hint, ref, ref])
        return await self.find(ref) if changed else None

    async def topup(self, ref: str, units: int) -> KeyRecord | None:
        changed = await self._run(
            f"UPDATE rp_keys SET balance = COALESCE(balance, 0) + ?, changed = {self.now_expr} "
            "WHERE id = ? OR name = ?", [units, ref, ref])
        return await self.find(ref) if changed else None

    # ------------------------------------------------------------------ usage

    async def write(self, rows: list[Sequence[Any]], charges: list[Charge]) -> None:
        """Usage rows (in USAGE_COLUMNS order) and what they cost each key, in one transaction.

        Spend is added, never set, so gateways sharing a database charge the same key safely.
        """
        statements: list[tuple[str, list[Sequence[Any]]]] = []
        if rows:
            statements += _usage_inserts(rows, self.rows_per_insert)
        if charges:
            statements.append((
                "UPDATE rp_keys SET spent = spent + ?, "
                "period_spent = CASE WHEN period_start = ? THEN period_spent + ? ELSE ? END, period_start = ?, "
                f"balance = CASE WHEN balance IS NULL THEN NULL ELSE balance - ? END, changed = {self.now_expr} "
                "WHERE id = ?",
                [(c.units, c.period_start, c.units, c.units, c.period_start, c.units, c.key_id) for c in charges],
            ))
        if statements:
            await self._batch(statements)

    async def usage(self, by: str, since: float | None = None, key: str | None = None) -> list[dict[str, Any]]:
        """One row per group (`by` key name, model name or UTC day) with calls, tokens and cost
        in money units, ordered by group."""
        if by not in GROUPINGS:
            raise StoreError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
        group = {"key": "COALESCE(k.name, u.key_id, '-')", "model": "u.model", "day": self.day_expr}[by]
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("u.ts >= ?")
            args.append(since)
        if key is not None:
            where.append("(u.key_id = ? OR k.name = ?)")
            args += [key, key]
        sums = ", ".join(f"COALESCE(SUM(u.{c}), 0)" for c in TOTALS)
        sql = (f"SELECT {group} AS grp, COUNT(*), SUM(CASE WHEN u.status < 400 THEN 0 ELSE 1 END), {sums} "
               "FROM rp_usage u LEFT JOIN rp_keys k ON k.id = u.key_id"
               + (" WHERE " + " AND ".join(where) if where else "") + f" GROUP BY {group} ORDER BY 1")
        out = []
        for row in await self._fetch(sql, args):
            item: dict[str, Any] = {by: row[0], "calls": int(row[1]), "errors": int(row[2])}
            item.update({c: float(v) if c == "media_seconds" else int(v)
                         for c, v in zip(TOTALS, row[3:], strict=True)})
            out.append(item)
        return out


class SQLiteStore(SQLStore):
    """The state file (or any SQLite path). Statements run in a worker thread, one at a time;
    with `inline_writes` (a serving gateway) usage batches are written, and the keys reloaded,
    on the event loop instead.

    Why: a batch is a few microseconds of CPU per row, but in a worker thread it trades the GIL
    with the event loop row by row, and each trade can stall the loop (measured: a third of the
    gateway's throughput at 1,000 calls/s). Inline, the loop pauses once per batch, briefly, and
    gives up at once if the CLI holds the file (the rows are kept for the next flush).

    Inline, SQLite's automatic checkpoint is off for that connection: it copies the WAL back into
    the database every 1,000 pages with two fsyncs, on the commit that crosses the mark, and
    paused the loop ~10 ms each time under load. A checkpoint runs instead on a worker thread
    and a connection of its own, at most every `CHECKPOINT_EVERY` seconds after a write; it does
    not block the writer, and the writer starts the WAL over once one has caught up.
    """

    day_expr = "strftime('%Y-%m-%d', u.ts, 'unixepoch')"
    now_expr = "((julianday('now') - 2440587.5) * 86400.0)"  # milliseconds; any SQLite version
    page_column = "rowid"  # the table's own order: a range of it is a plain scan

    def __init__(self, path: str, inline_writes: bool = False) -> None:
        self.path = path
        self.inline_writes = inline_writes
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._checkpointer: sqlite3.Connection | None = None  # used by one worker thread at a time
        self._checkpoint: asyncio.Future[None] | None = None
        self._next_checkpoint = 0.0

    async def open(self) -> None:
        _fast_null_binding()

        def setup() -> sqlite3.Connection:
            db = sqlite_state.connect(self.path)
            # The CLI and a running server share the file; a server writing inline must not
            # wait long on the loop.
            db.execute(f"PRAGMA busy_timeout={50 if self.inline_writes else 5000}")
            if self.inline_writes:
                db.execute("PRAGMA wal_autocheckpoint=0")
            for ddl in _SCHEMA:
                db.execute(ddl)
            for table, added in _ADDED_COLUMNS.items():
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, kind in added:
                    if name not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            for ddl in _ADDED_INDEXES:
                db.execute(ddl)
            # As many rows to a statement as the library's parameter limit allows (999 before
            # SQLite 3.32), up to 128: beyond that a row costs no less.
            fit = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(USAGE_COLUMNS)
            self.rows_per_insert = 1 << (min(fit, 128).bit_length() - 1) if fit else 1
            return db

        self._db = await asyncio.to_thread(setup)

    async def close(self) -> None:
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.close)
            self._checkpointer = None
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)

    def _checkpoint_soon(self) -> None:
        """After an inline write: start a WAL checkpoint on a worker thread, unless one runs or
        ran less than `CHECKPOINT_EVERY` seconds ago."""
        if self._checkpoint is not None or (now := time.monotonic()) < self._next_checkpoint:
            return
        self._next_checkpoint = now + CHECKPOINT_EVERY
        self._checkpoint = done = asyncio.get_running_loop().run_in_executor(None, self._run_checkpoint)
        done.add_done_callback(self._checkpoint_done)

    def _run_checkpoint(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite_state.connect(self.path)
        # PASSIVE: copies what no reader still needs, never waits for (or blocks) a writer.
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_done(self, done: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not done.cancelled() and (exc := done.exception()) is not None:
            log.warning("checkpointing the state file's WAL failed (%s); trying again after the next write", exc)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    async def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        db = self._conn()
        async with self._lock:
            return await asyncio.to_thread(lambda: db.execute(sql, args).rowcount)

    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        db = self._conn()
        async with self._lock:
            return await asyncio.to_thread(lambda: db.execute(sql, args).fetchall())

    async def _fetch_keys(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        if not self.inline_writes:
            return await self._fetch(sql, args)
        db = self._conn()
        async with self._lock:  # a few rows, read on the loop like a usage batch is written
            return db.execute(sql, args).fetchall()

    async def _batch(self, statements: list[tuple[str, list[Sequence[Any]]]]) -> None:
        db = self._conn()

        def run() -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    db.executemany(sql, rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        async with self._lock:
            if self.inline_writes:
                run()
                self._checkpoint_soon()
            else:
                await asyncio.to_thread(run)

    def _is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)


def _usage_inserts(rows: list[Sequence[Any]], most: int) -> list[tuple[str, list[Sequence[Any]]]]:
    """The INSERTs for a batch of usage rows, naming only the columns some row fills: most calls
    report no audio, image, video or media figures, and a column left out is NULL just the same
    while costing nothing to bind (a bound NULL costs about as much as a number).

    With `most` > 1, rows go `most` (then 64, 32, ... for the rest) to a statement, as one
    multi-row VALUES list of flattened parameters: SQLite then runs one statement per chunk
    instead of one per row, which halves the cost of a row (1.5 against 3.1 us, measured on a
    500-row batch). Chunk sizes are powers of two so that a few statement texts, compiled once
    and kept in the connection's statement cache, serve every batch."""
    # The batch turned into columns and back by zip (C loops): half the instructions per row of
    # an itemgetter per column (callgrind: ~5k against ~10k per row of a 500-row batch).
    columns = list(zip(*rows, strict=True))
    # A column whose first row has a value is kept without counting: counting compares every
    # value with None, which is cheap only for the Nones themselves (an identity check).
    keep = tuple(i for i, column in enumerate(columns) if column[0] is not None or column.count(None) != len(rows))
    if len(keep) < len(USAGE_COLUMNS):
        rows = list(zip(*[columns[i] for i in keep], strict=True))
    if most <= 1:
        return [(_insert_sql(keep, 1), rows)]
    statements: list[tuple[str, list[Sequence[Any]]]] = []
    start, size, total = 0, most, len(rows)
    while start < total:
        while size > total - start:
            size //= 2
        end = start + (total - start) // size * size
        statements.append((_insert_sql(keep, size),
                           [list(chain.from_iterable(rows[i:i + size])) for i in range(start, end, size)]))
        start = end
    return statements


@functools.cache
def _insert_sql(keep: tuple[int, ...], count: int) -> str:
    """INSERT of `count` rows of the USAGE_COLUMNS at indices `keep` (a few dozen texts at most)."""
    marks = "(" + ", ".join("?" * len(keep)) + ")"
    return (f"INSERT INTO rp_usage ({', '.join(USAGE_COLUMNS[i] for i in keep)}) "
            f"VALUES {', '.join([marks] * count)}")


def _fast_null_binding() -> None:
    """Bind None as NULL without the sqlite3 module's slow path.

    sqlite3 binds int, float and str directly, but sends every None through its adaptation
    protocol: an adapter-table miss, then failed `__adapt__`/`__conform__` lookups. A usage row
    has ~10 NULL columns (tokens a vendor did not report), and that miss path was half the cost
    of writing it (callgrind: ~23k of ~45k instructions per row). An adapter registered for
    NoneType is found at the first lookup; `{}.get(None)` is a C call returning None, which is
    then bound as NULL as before. Process-wide, same result for every sqlite3 user, only faster.
    """
    none: dict[None, None] = {}
    sqlite3.register_adapter(type(None), none.get)


def _numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, ...` (no statement here has a literal `?`)."""
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


class PostgresStore(SQLStore):
    """A PostgreSQL database shared by gateway instances (asyncpg, from `relayport[postgres]`).

    Query parameters of the URL other than libpq's own are server settings, so
    `postgresql://host/db?search_path=relayport` keeps the tables in a schema.
    """

    day_expr = "to_char(to_timestamp(u.ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    # The transaction's start: a change is stamped no later than it becomes visible.
    now_expr = "CAST(EXTRACT(EPOCH FROM now()) AS DOUBLE PRECISION)"
    page_column = "id"  # the primary key's index

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError:
            raise StoreError("a postgresql:// store needs asyncpg: pip install 'relayport[postgres]'") from None
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        # Gateways starting together must not race on CREATE TABLE IF NOT EXISTS.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7261390)")
            for ddl in _SCHEMA:
                await conn.execute(ddl)
            for table, added in _ADDED_COLUMNS.items():
                for name, kind in added:
                    await conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {kind}")
            for ddl in _ADDED_INDEXES:
                await conn.execute(ddl)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        status = await self._pool.execute(_numbered(sql), *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._pool.fetch(_numbered(sql), *args))

    async def _batch(self, statements: list[tuple[str, list[Sequence[Any]]]]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            for sql, rows in statements:
                await conn.executemany(_numbered(sql), rows)

    def _is_conflict(self, exc: BaseException) -> bool:
        return type(exc).__name__ == "UniqueViolationError"


def open_store(url: str, state_path: str, serving: bool = False) -> SQLStore:
    """The store `[server] store` names: a postgresql:// URL, a SQLite path, or "" for the state
    file. `serving`: for a gateway's usage meter (see SQLiteStore)."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///"):]
    return SQLiteStore(url or state_path, inline_writes=serving)
