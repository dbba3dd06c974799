"""The gateway's SQLite state file, opened the same way by every store that lives in it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: str) -> sqlite3.Connection:
    """Open (creating its folder) the state file, in autocommit mode, shared across threads.

    WAL lets the stores' worker threads read while one writes; with synchronous=NORMAL it stays
    durable across a process kill (not a power cut) at a fraction of FULL's fsyncs.
    """
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db
