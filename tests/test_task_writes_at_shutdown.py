"""A task write queued when the gateway stops lands in the store before it closes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from relayport.config import parse_config
from relayport.model import MediaKind, MediaRequest, TaskRecord, TaskStatus
from relayport.plugins import load_plugins
from relayport.routing import Router
from relayport.tasks.runner import TaskRunner
from relayport.tasks.store import TaskStore
from relayport.upstream import new_session


async def test_a_write_cancelled_by_shutdown_still_lands(tmp_path: Path) -> None:
    path = str(tmp_path / "tasks.sqlite3")
    store = TaskStore(path)
    await store.open()
    now = time.time()
    task = TaskRecord(id="task_shutdown", provider="vid", model="v", vendor_task_id="job-1",
                      status=TaskStatus.RUNNING, request=MediaRequest(MediaKind.VIDEO, "v", prompt="a cat"),
                      created_at=now, updated_at=now, deadline=now + 3600, deployment="v")
    await store.put(task)
    session = new_session()
    runner = TaskRunner(store, session, Router(parse_config({}), load_plugins({}), {}))
    task.status = TaskStatus.SUCCEEDED  # what a poll just learned, written in the next batch
    poll = asyncio.create_task(runner._commit(task, was_final=False))
    await asyncio.sleep(0)  # queued: the batch waits a moment for other polls to join it
    poll.cancel()  # shutdown stops the poller's jobs
    await asyncio.gather(poll, return_exceptions=True)
    await runner.close()
    await session.close()
    await store.close()

    reopened = TaskStore(path)
    await reopened.open()
    try:
        stored = await reopened.get("task_shutdown")
        assert stored is not None and stored.status is TaskStatus.SUCCEEDED
    finally:
        await reopened.close()
