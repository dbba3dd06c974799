"""Submitting media tasks to vendors, polling, cancelling, storing results and calling back.

The HTTP routes and the background poller (`relayport.tasks.poller`) build on this. The
gateway's task id is its own (opaque, unguessable) and the vendor's stays inside. Every write
after the first is compare-and-set (`TaskStore.replace`), so a task becomes final once and its
result copy and callback are queued once, whoever polled it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import aiohttp
import orjson

from relayport import upstream, urlguard
from relayport.calls import CallRecord, caller_id
from relayport.config import TasksConfig
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import MediaOutput, MediaRequest, TaskRecord, TaskStatus, TaskUpdate
from relayport.provider import Deployment
from relayport.routing import Router
from relayport.tasks import callbacks, metering
from relayport.tasks.results import ResultStore
from relayport.tasks.store import TaskStoreProtocol
from relayport.urlguard import FetchPolicy

log = logging.getLogger("relayport.tasks")

DEFAULT_DEADLINE = TasksConfig().deadline
_LINGER = 0.02
_CALLBACK_LEASE = 60.0


def deadline_error() -> GatewayError:
    return GatewayError(504, "The task did not finish before its deadline.", code="task_deadline_exceeded")


class TaskRunner:
    def __init__(self, store: TaskStoreProtocol, session: aiohttp.ClientSession, router: Router,
                 config: TasksConfig | None = None, results: ResultStore | None = None,
                 fetch_session: aiohttp.ClientSession | None = None,
                 fetch_policy: FetchPolicy | None = None, callback_secret: str | None = None) -> None:
        self.store = store
        self.session = session
        self.router = router
        self.config = config or TasksConfig()
        self.results = results
        self.fetch_session = fetch_session
        self.fetch_policy = fetch_policy or FetchPolicy()
        self.callback_secret = callback_secret
        # Wakes the poller: a task was submitted or has chores (result copy, callback).
        self.kick: Callable[[], None] = lambda: None
        # Told of each task once, when it ends (the gateway's observers: usage meter, metrics).
        self.observe: Callable[[CallRecord], None] | None = None
        self._queue: list[tuple[TaskRecord, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._polling: dict[str, asyncio.Future[TaskRecord]] = {}  # task id -> its poll under way

    # ------------------------------------------------------------------ helpers

    def interval(self, provider: str) -> float:
        return self.config.poll_intervals.get(provider, self.config.poll_interval)

    def _jittered(self, seconds: float) -> float:
        j = self.config.jitter
        return seconds * (1 + random.uniform(-j, j)) if j else seconds

    def deployment(self, task: TaskRecord) -> Deployment:
        dep = next((d for d in self.router.resolve(task.deployment) if d.provider.name == task.provider), None)
        if dep is None:
            raise GatewayError(409, f"Provider '{task.provider}' no longer serves '{task.deployment}'.",
                               code="deployment_gone")
        return dep

    async def call(self, dep: Deployment, req: UpstreamRequest) -> UpstreamResponse:
        async with upstream.send(self.session, dep, req) as resp:
            body = await upstream.read_body(dep, resp)
        response = UpstreamResponse(resp.status, resp.headers, body)
        if resp.status >= 300:
            err = dep.hooks.relayport_map_error(deployment=dep, response=response)
            raise err or GatewayError(resp.status if resp.status >= 400 else 502, f"HTTP {resp.status}")
        return response

    async def _replace(self, task: TaskRecord) -> bool:
        """Compare-and-set write; concurrent writes leave in one batch (one thread hop)."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((task, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await fut

    async def close(self) -> None:
        """Let the batch of task writes under way land before the store closes: a poll that
        shutdown cancelled has still changed its task (it may have ended), and a write lost
        here would poll it again, or report it twice, after a restart."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        # Let the polls finishing meanwhile join the batch: with a thousand open tasks a write per
        # poll would be a thread hop per poll; a short wait makes it one per batch.
        await asyncio.sleep(_LINGER)
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                done = await self.store.replace_many([t for t, _ in batch])
            except Exception as exc:  # the store failed: every waiter hears it
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), ok in zip(batch, done, strict=True):
                if not fut.done():
                    fut.set_result(ok)

    async def _commit(self, task: TaskRecord, was_final: bool) -> TaskRecord:
        """Write `task`; when someone else wrote first, theirs stands (re-read and returned).
        A task that became final here queues its chores (result copy, callback)."""
        if not was_final and task.status.final:
            task.completed_at = task.completed_at or time.time()
            if task.status is TaskStatus.SUCCEEDED and task.outputs and self.results is not None \
                    and task.vendor_task_id is not None:
                task.content_state = "pending"
            if task.callback_url:
                task.callback_state = "pending"
            task.next_poll_at = 0.0  # chores are due now
        if await self._replace(task):
            if not was_final and task.status.final:
                self._ended(task)
            if task.has_chores:
                self.kick()
            return task
        return await self.store.get(task.id) or task

    def _ended(self, task: TaskRecord) -> None:
        """Report a task that just ended (this write made it final, so it is reported once)."""
        if self.observe is None:
            return
        try:
            label = self.router.health(self.deployment(task)).label
        except GatewayError:
            label = task.deployment
        self.observe(metering.task_record(task, label))

    # ------------------------------------------------------------------ submit

    async def submit(self, dep: Deployment, request: MediaRequest, deadline: float | None = None, *,
                     owner: str = "anonymous", callback_url: str | None = None, origin: str = "",
                     keep_sync: bool = True) -> TaskRecord:
        """Start a task. A synchronous vendor's finished answer is stored only with `keep_sync`
        (or a callback to send): a speech or base64 image answer handed straight to the client
        would only weigh on the store."""
        await self._fetch_urls(dep, request)
        try:
            up = dep.hooks.relayport_submit_task(deployment=dep, request=request)
        finally:
            request.fetched = {}  # bytes for this submit only: never into the store
        if up is None:
            raise GatewayError(501, f"Provider '{dep.provider.name}' cannot run {request.kind.value} tasks.",
                               code="unsupported_operation")
        response = await self.call(dep, up)
        submitted = dep.hooks.relayport_parse_submit(deployment=dep, request=request, response=response)
        if submitted is None:
            raise GatewayError(502, f"Provider '{dep.provider.name}' could not read the vendor's answer.")
        now = time.time()
        task = TaskRecord(
            id="task_" + secrets.token_urlsafe(18),
            provider=dep.provider.name,
            model=dep.model,
            vendor_task_id=submitted.vendor_task_id,
            status=TaskStatus.QUEUED,
            request=request,
            created_at=now,
            updated_at=now,
            deadline=now + (self.config.deadline if deadline is None else deadline),
            deployment=dep.name,
            owner=owner,
            native=_json_or_none(response),
            callback_url=callback_url,
            vendor_state=dict(submitted.vendor_state),
            origin=origin,
            adjustments=list(up.adjustments),
            caller=caller_id(),
        )
        task.next_poll_at = now + self._jittered(self.interval(task.provider))
        if submitted.update is not None:
            _apply(task, submitted.update)
            if submitted.update.native is not None:
                task.native = submitted.update.native
        if task.status.final:
            task.completed_at = now
            if task.callback_url:
                task.callback_state = "pending"
            if task.status is TaskStatus.SUCCEEDED and task.outputs and self.results is not None \
                    and task.vendor_task_id is not None:
                task.content_state = "pending"
        if keep_sync or not task.status.final or task.callback_url:
            await self.store.put(task)
            self.kick()
        if task.status.final:  # a synchronous vendor's answer: the task ended at its submit
            self._ended(task)
        return task

    async def _fetch_urls(self, dep: Deployment, request: MediaRequest) -> None:
        urls = dep.hooks.relayport_media_urls_to_fetch(deployment=dep, request=request)
        wanted = [u for u in dict.fromkeys(urls or ()) if u not in request.fetched]
        if not wanted:
            return
        if self.fetch_session is None:
            raise GatewayError(500, "The gateway has no session for fetching client URLs.")
        got = await asyncio.gather(*(urlguard.fetch(self.fetch_session, u, self.fetch_policy) for u in wanted))
        request.fetched.update(zip(wanted, got, strict=True))

    # ------------------------------------------------------------------ poll

    async def poll(self, task: TaskRecord) -> TaskRecord:
        """Ask the vendor once (unless the task is final) and store what it said. A poll of the
        same task already under way in this process (the background poller's, or another
        client's early one) is joined, not sent again: a vendor's multi-step result (MiniMax's
        file retrieve) is fetched once. The poll runs on its own, so a client that leaves does
        not cut it short."""
        running = self._polling.get(task.id)
        if running is not None:
            # A joiner gets its own copy: what it does next (chores, a callback's lease) is a
            # compare-and-set on the copy's version, which must fail for all but one caller.
            return copy.deepcopy(await asyncio.shield(running))
        running = asyncio.ensure_future(self._poll(task))
        self._polling[task.id] = running
        running.add_done_callback(partial(self._poll_ended, task.id))
        return await asyncio.shield(running)

    def _poll_ended(self, task_id: str, _: object) -> None:
        self._polling.pop(task_id, None)

    async def _poll(self, task: TaskRecord) -> TaskRecord:
        """Ask the vendor once (unless the task is final) and store what it said.

        Errors do not raise: they back the next poll off (rate limits honour `Retry-After`),
        and after `tasks.max_poll_errors` in a row the task fails with the last one.
        """
        if task.status.final:
            return task
        now = time.time()
        task.last_polled_at = now
        if now > task.deadline:
            _apply(task, TaskUpdate(TaskStatus.FAILED, error=deadline_error()))
            return await self._commit(task, False)
        try:
            dep = self.deployment(task)
            up = dep.hooks.relayport_poll_request(deployment=dep, task=task)
            if up is None:
                raise GatewayError(501, f"Provider '{dep.provider.name}' cannot poll tasks.")
            response = await self.call(dep, up)
            update = dep.hooks.relayport_parse_poll(deployment=dep, task=task, response=response)
            if update is None:
                raise GatewayError(502, f"Provider '{dep.provider.name}' could not read the task status.")
        except GatewayError as err:
            task.poll_errors += 1
            if task.poll_errors >= self.config.max_poll_errors or err.status == 501:
                _apply(task, TaskUpdate(TaskStatus.FAILED, error=err))
            else:
                wait = self.interval(task.provider) * 2 ** min(task.poll_errors, 16)
                wait = max(wait, err.retry_after or 0.0)
                task.next_poll_at = now + self._jittered(min(self.config.max_backoff, wait))
                log.info("poll of %s failed (%s); next in %.1f s", task.id, err, task.next_poll_at - now)
            return await self._commit(task, False)
        task.poll_errors = 0
        task.native = update.native if update.native is not None else _json_or_none(response)
        _apply(task, update)
        # An operator's per-provider interval wins over the plugin's hint, which wins over the default.
        wait = self.config.poll_intervals.get(task.provider, update.poll_after)
        if wait is None:
            wait = self.config.poll_interval
        task.next_poll_at = now + self._jittered(wait)
        return await self._commit(task, False)

    # ------------------------------------------------------------------ cancel

    async def cancel(self, task: TaskRecord) -> TaskRecord:
        if task.status.final:
            raise GatewayError(409, f"The task is already {task.status.value}.", code="task_finished")
        dep = self.deployment(task)
        up = dep.hooks.relayport_cancel_request(deployment=dep, task=task)
        if up is None:
            raise GatewayError(501, f"Provider '{dep.provider.name}' cannot cancel tasks; the task runs on "
                                    "to its end.", code="unsupported_operation")
        await self.call(dep, up)
        _apply(task, TaskUpdate(TaskStatus.CANCELLED))
        return await self._commit(task, False)

    async def delete(self, task: TaskRecord) -> None:
        """Forget a final task and its stored results; its callback, if still due, is not sent."""
        await self.store.delete(task.id)
        if self.results is not None:
            await asyncio.to_thread(self.results.discard, task.id, len(task.outputs))

    # ------------------------------------------------------------------ results and callbacks

    async def store_results(self, task: TaskRecord) -> None:
        """Copy every output into the result store (vendor URLs expire or need the key)."""
        assert self.results is not None
        dep = self.deployment(task)
        for index, output in enumerate(task.outputs):
            await self.results.ensure(task.id, index, partial(self.output_chunks, dep, task, index, output))

    async def output_chunks(self, dep: Deployment, task: TaskRecord, index: int,
                             output: MediaOutput) -> AsyncIterator[bytes]:
        if output.b64 is not None:
            yield base64.b64decode(output.b64)
            return
        up = dep.hooks.relayport_content_request(deployment=dep, task=task, index=index)
        if up is None:
            raise GatewayError(404, "The vendor gave no result to download.", code="no_content")
        async with upstream.send(self.session, dep, up) as resp:
            if resp.status >= 300:
                body = await upstream.read_body(dep, resp)
                err = dep.hooks.relayport_map_error(deployment=dep,
                                                    response=UpstreamResponse(resp.status, resp.headers, body))
                raise err or GatewayError(502, f"The result download answered HTTP {resp.status}.")
            if resp.content_type and not output.media_type:
                output.media_type = resp.content_type
            async for chunk in resp.content.iter_chunked(1 << 20):
                yield chunk

    async def chores(self, task: TaskRecord, view: Callable[[TaskRecord], dict[str, Any]]) -> TaskRecord:
        """Store the result, then send the callback; each step is recorded as it ends."""
        if task.content_state == "pending":
            try:
                await self.store_results(task)
                task.content_state = "stored"
                # A video that came inline (LTX answers with the file) is in the result store
                # now: the task row no longer carries megabytes of base64.
                for out in task.outputs:
                    if out.b64 is not None and (out.media_type or "").startswith("video/"):
                        out.b64 = None
            except (GatewayError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("storing the result of %s failed: %s", task.id, exc)
                task.content_state = "failed"
            committed = await self._commit(task, True)
            if committed is not task:
                # Another instance (or poll) wrote first and is doing these chores: what we read
                # back may be under its callback lease, so going on could send the callback twice.
                return committed
        if task.callback_state == "pending":
            # Claim the delivery (compare-and-set a lease) so that of two instances sharing the
            # store only one sends; a process killed mid-send leaves the lease to expire and the
            # callback is sent again (at least once across a crash, once otherwise).
            task.next_poll_at = time.time() + _CALLBACK_LEASE
            if not await self._replace(task):
                return await self.store.get(task.id) or task
            body = orjson.dumps(view(task))
            try:
                if self.fetch_session is None or not self.callback_secret or not task.callback_url:
                    raise GatewayError(500, "callbacks are not configured")
                await callbacks.post(self.fetch_session, task.callback_url, body, self.callback_secret,
                                     self.fetch_policy)
                task.callback_state = "sent"
            except (GatewayError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                task.callback_attempts += 1
                if task.callback_attempts >= self.config.callback_attempts:
                    task.callback_state = "failed"
                    log.warning("callback of %s failed for good: %s", task.id, exc)
                else:
                    task.next_poll_at = time.time() + min(self.config.max_backoff, 2.0 ** task.callback_attempts)
            task = await self._commit(task, True)
        return task


def _json_or_none(response: UpstreamResponse) -> Any:
    if not response.body or response.body[:1] not in (b"{", b"["):
        return None
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None


def _apply(task: TaskRecord, update: TaskUpdate) -> None:
    task.status = update.status
    task.updated_at = time.time()
    if update.progress is not None:
        task.progress = update.progress
    if update.outputs:
        task.outputs = list(update.outputs)
    if update.error is not None:
        task.error = update.error
    if update.usage is not None:
        task.usage = update.usage
    if update.vendor_state:
        task.vendor_state.update(update.vendor_state)
