"""Submitting media tasks to vendors and polling them, through the task hooks.

The HTTP routes (`/v1/videos/generations`, ...) and the background poller build on this;
it keeps the gateway's own task id (opaque, unguessable) separate from the vendor's.
"""

from __future__ import annotations

import secrets
import time

import aiohttp

from relayport import upstream
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import MediaRequest, TaskRecord, TaskStatus, TaskUpdate
from relayport.provider import Deployment
from relayport.routing import Router
from relayport.tasks.store import TaskStore

DEFAULT_DEADLINE = 6 * 3600.0


class TaskRunner:
    def __init__(self, store: TaskStore, session: aiohttp.ClientSession, router: Router) -> None:
        self.store = store
        self.session = session
        self.router = router

    async def _call(self, dep: Deployment, req: UpstreamRequest) -> UpstreamResponse:
        async with upstream.send(self.session, dep, req) as resp:
            body = await upstream.read_body(dep, resp)
        response = UpstreamResponse(resp.status, resp.headers, body)
        if resp.status >= 300:
            err = dep.hooks.relayport_map_error(deployment=dep, response=response)
            raise err or GatewayError(resp.status, f"HTTP {resp.status}")
        return response

    async def submit(self, dep: Deployment, request: MediaRequest,
                     deadline: float = DEFAULT_DEADLINE) -> TaskRecord:
        up = dep.hooks.relayport_submit_task(deployment=dep, request=request)
        if up is None:
            raise GatewayError(501, f"Provider '{dep.provider.name}' cannot run {request.kind.value} tasks.",
                               code="unsupported_operation")
        response = await self._call(dep, up)
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
            deadline=now + deadline,
            deployment=dep.name,
        )
        if submitted.update is not None:
            _apply(task, submitted.update)
        await self.store.put(task)
        return task

    async def poll(self, task: TaskRecord) -> TaskRecord:
        """Ask the vendor once (unless the task is final) and store what it said."""
        if task.status.final:
            return task
        if time.time() > task.deadline:
            _apply(task, TaskUpdate(TaskStatus.FAILED, error=GatewayError(
                504, "The task did not finish before its deadline.", code="task_deadline_exceeded")))
            await self.store.put(task)
            return task
        dep = next((d for d in self.router.resolve(task.deployment) if d.provider.name == task.provider), None)
        if dep is None:
            raise GatewayError(409, f"Provider '{task.provider}' no longer serves '{task.deployment}'.")
        up = dep.hooks.relayport_poll_request(deployment=dep, task=task)
        if up is None:
            raise GatewayError(501, f"Provider '{dep.provider.name}' cannot poll tasks.")
        response = await self._call(dep, up)
        update = dep.hooks.relayport_parse_poll(deployment=dep, task=task, response=response)
        if update is None:
            raise GatewayError(502, f"Provider '{dep.provider.name}' could not read the task status.")
        _apply(task, update)
        await self.store.put(task)
        return task


def _apply(task: TaskRecord, update: TaskUpdate) -> None:
    task.status = update.status
    task.updated_at = time.time()
    if update.progress is not None:
        task.progress = update.progress
    if update.outputs:
        task.outputs = list(update.outputs)
    if update.error is not None:
        task.error = update.error
