"""The result store: finished media copied to a local folder, served by `.../content`.

Vendor result URLs expire (BFL after ~10 minutes, most others within a day or two) or need the
vendor key (Sora), so the gateway keeps its own copy. The folder is capped in total size (the
oldest copies go first) and copies older than the retention period are removed.
File work runs in worker threads; the event loop only moves chunks.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from relayport.model.errors import GatewayError

_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


class ResultStore:
    def __init__(self, path: str, max_bytes: int, retention: float) -> None:
        self.root = Path(path)
        self.max_bytes = max_bytes
        self.retention = retention
        self._temporary = False
        # Copies being written, so that the poller's background copy and a client's `/content`
        # racing it share one download instead of fetching a large video twice.
        self._copying: dict[tuple[str, int], asyncio.Task[int]] = {}

    @classmethod
    def for_state(cls, state_path: str, results_path: str, max_bytes: int, retention: float) -> ResultStore:
        """The configured folder, else `<state file>.results`, else (in-memory state) a temp folder."""
        temporary = False
        if not results_path:
            if state_path == ":memory:":
                results_path, temporary = tempfile.mkdtemp(prefix="relayport-results-"), True
            else:
                results_path = state_path + ".results"
        store = cls(results_path, max_bytes, retention)
        store._temporary = temporary
        store.root.mkdir(parents=True, exist_ok=True)
        return store

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def path(self, task_id: str, index: int) -> Path:
        if not _SAFE.match(task_id):
            raise GatewayError(404, "No such task.", code="task_not_found")
        return self.root / f"{task_id}.{index}"

    def has(self, task_id: str, index: int) -> bool:
        return self.path(task_id, index).is_file()

    async def ensure(self, task_id: str, index: int, chunks: Callable[[], AsyncIterator[bytes]]) -> None:
        """Make sure a result is stored: nothing when it is, join a copy already under way, else
        download it with `chunks()`. The copy runs on its own, so a client that goes away does not
        cancel it for the others waiting on it."""
        if self.has(task_id, index):
            return
        key = (task_id, index)
        copy = self._copying.get(key)
        if copy is None:
            copy = asyncio.ensure_future(self.save(task_id, index, chunks()))
            self._copying[key] = copy
            copy.add_done_callback(lambda _: self._copying.pop(key, None))
        await asyncio.shield(copy)

    async def save(self, task_id: str, index: int, chunks: AsyncIterator[bytes]) -> int:
        """Write a result from its chunks; raises GatewayError(507) past the size cap."""
        final = self.path(task_id, index)
        # A unique temporary name: the poller and a client's request may fetch the same result at
        # once; each writes its own file and the atomic rename keeps one whole copy.
        tmp = final.with_name(f"{final.name}.{secrets.token_hex(4)}.part")
        size = 0
        f = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise GatewayError(507, "The result is larger than tasks.results_max_bytes.",
                                       code="result_too_large")
                await asyncio.to_thread(f.write, chunk)
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise
        f.close()
        await asyncio.to_thread(os.replace, tmp, final)
        await asyncio.to_thread(self._enforce_cap)
        return size

    def _enforce_cap(self) -> None:
        files = [(e.stat().st_mtime, e.stat().st_size, e.path) for e in os.scandir(self.root)
                 if e.is_file() and not e.name.endswith(".part")]
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            Path(path).unlink(missing_ok=True)
            total -= size

    def discard(self, task_id: str, count: int) -> None:
        """Remove a task's stored results (a deleted task keeps nothing)."""
        for index in range(count):
            self.path(task_id, index).unlink(missing_ok=True)

    def sweep(self, now: float | None = None) -> int:
        """Remove copies older than the retention period; returns how many went."""
        cutoff = (now or time.time()) - self.retention
        gone = 0
        for entry in os.scandir(self.root):
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                Path(entry.path).unlink(missing_ok=True)
                gone += 1
        return gone
