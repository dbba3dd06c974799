"""The background poller: drives every open task to its end, and finished tasks' chores.

It runs as an aiohttp `cleanup_ctx` task. Each round reads the tasks whose next poll is due
(an indexed query, so 1,000 open tasks cost what the due ones cost), polls them under a
concurrency limit, and sleeps until the next one is due or a submit wakes it. Pacing per task
(interval per vendor, jitter, backoff on 429) is the runner's; this loop only schedules.
After a restart the store still holds every open task, so polling simply resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from relayport.model.media import TaskRecord
from relayport.tasks.runner import TaskRunner

log = logging.getLogger("relayport.tasks")

_BATCH = 256
_MAX_SLEEP = 1.0
# Rounds are at least this far apart: with many open tasks one is nearly always due, and a
# round per task would cost a store query each; a poll may start up to this late instead.
_MIN_SLEEP = 0.05
_SWEEP_EVERY = 3600.0


class Poller:
    def __init__(self, runner: TaskRunner, view: Callable[[TaskRecord], dict[str, Any]]) -> None:
        self.runner = runner
        self.view = view  # the task object callbacks carry
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(runner.config.concurrency)
        self._busy: set[str] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        # When the loop next looks at the store. The tasks it hands out are claimed (their due
        # time in the store is the claim's end), so a poll that ends sooner wakes it.
        self._wake_at = 0.0
        runner.kick = self._wake.set

    async def run(self) -> None:
        last_sweep = 0.0
        while True:
            started = time.monotonic()
            try:
                now = time.time()
                # Claim no more than can start now: a claimed task waiting for a slot here is
                # one another instance sharing the store could be polling.
                lease = self.runner.config.poll_lease
                if (free := min(_BATCH, self.runner.config.concurrency - len(self._busy))) > 0:
                    for task in await self.runner.store.due(now, free, frozenset(self._busy), lease):
                        self._start(task, self._poll)
                if (free := min(_BATCH, self.runner.config.concurrency - len(self._busy))) > 0:
                    for task in await self.runner.store.with_chores(free, now, lease):
                        self._start(task, self._chores)
                if self.runner.results is not None and now - last_sweep > _SWEEP_EVERY:
                    last_sweep = now
                    await asyncio.to_thread(self.runner.results.sweep)
                nxt = await self.runner.store.next_due()
                wait = _MAX_SLEEP if nxt is None else min(_MAX_SLEEP, max(_MIN_SLEEP, nxt - time.time()))
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup must not end polling for good
                log.exception("task poller round failed")
                wait = _MAX_SLEEP
            self._wake.clear()
            self._wake_at = time.time() + wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            # Woken early (polls ending one by one): still no more than one round per _MIN_SLEEP.
            if (rest := started + _MIN_SLEEP - time.monotonic()) > 0:
                await asyncio.sleep(rest)

    def _start(self, task: TaskRecord, job: Callable[[TaskRecord], Any]) -> None:
        if task.id in self._busy:
            return
        self._busy.add(task.id)
        t = asyncio.create_task(self._guarded(task, job))
        self._jobs.add(t)
        t.add_done_callback(self._jobs.discard)

    async def _guarded(self, task: TaskRecord, job: Callable[[TaskRecord], Any]) -> None:
        try:
            async with self._limit:
                await job(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s: poll failed", task.id)
        finally:
            self._busy.discard(task.id)

    async def _poll(self, task: TaskRecord) -> None:
        task = await self.runner.poll(task)
        if not task.status.final and task.next_poll_at < self._wake_at:
            self._wake.set()
        if task.has_chores:
            await self.runner.chores(task, self.view)

    async def _chores(self, task: TaskRecord) -> None:
        await self.runner.chores(task, self.view)

    async def stop(self) -> None:
        for t in list(self._jobs):
            t.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
