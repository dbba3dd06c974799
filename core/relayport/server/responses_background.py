"""`background: true` Responses that survive the gateway: queued at once, run in this process,
and run again by the next start when the process dies first (SIGKILL, OOM, a host reboot).

Why re-run rather than fail: the client asked for an answer it will poll for, maybe hours
later; the vendor call the dead process was waiting on cannot be picked up again (it was an
open HTTP request), but the request can be sent again, and for a translated vendor the gateway
holds all of it. What it takes is kept with the response in the state file (`response_jobs`:
the client's body, the previous response's items as they were, and the web search results the
model was given), so the re-run sees the conversation the client created it with, even if the
previous response was deleted since, and its `url_citation` annotations match the same results.

A job runs as the store key that created it (`caller` in the job): a run started again is
charged to that key and checked against its funds and allow-list as any call is, and fails
with the key's 401 when the key was revoked, has expired or is gone.

A job is started at most `MAX_RUNS` times by processes that died during it (a graceful stop
does not count): a request that takes the gateway down with it (memory, a crash in a vendor
library) is failed with a clear error instead of crash-looping.
Cancelling (`POST .../cancel`) and deleting stop the run and drop the job, before or after a
restart; a graceful stop leaves the job for the next start without counting it as cancelled.

One gateway process per state file: two processes sharing one would both resume its jobs.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from relayport.calls import caller, caller_id
from relayport.gateway import Gateway
from relayport.model.errors import GatewayError
from relayport.provider import Deployment
from relayport.responses.annotations import add_vendor_annotations
from relayport.responses.store import ResponseStore
from relayport.search_tool import Search
from relayport.server import keys
from relayport.webservices import SearchResult
from relayport.wire import openai_responses as codec

if TYPE_CHECKING:
    from relayport.accounts.live import Accounts

log = logging.getLogger("relayport.server")

MAX_RUNS = 3
_FINAL = frozenset({"completed", "incomplete", "failed", "cancelled"})


def _search_state(search: Search | None) -> dict[str, Any] | None:
    if search is None:
        return None
    return {"query": search.query, "note": search.note,
            "results": [{"title": r.title, "url": r.url, "snippet": r.snippet} for r in search.results]}


def _search_of(state: dict[str, Any] | None) -> Search | None:
    if state is None:
        return None
    return Search(state["query"], [SearchResult(**r) for r in state["results"]], state["note"])


def cite(obj: dict[str, Any], search: Search) -> None:
    """`url_citation` annotations on the output text, for the `[n]` markers the model wrote."""
    for item in obj.get("output") or ():
        for part in item.get("content") or () if item.get("type") == "message" else ():
            if part.get("type") == "output_text":
                part["annotations"] = search.output_annotations(part.get("text") or "")


async def start(store: ResponseStore, gateway: Gateway, req: codec.ResponsesRequest, deployments: list[Deployment],
                response_id: str, owner: bytes, kept: list[dict[str, Any]],
                history: list[dict[str, Any]] | None, search: Search | None) -> dict[str, Any]:
    """Store the job and the `queued` response, start the run; the `queued` response is returned."""
    if not req.store:
        raise GatewayError(400, "'background' requires 'store' to be true: the result is fetched later.",
                           param="store", code="invalid_value")
    if req.chat.stream:
        raise GatewayError(400, "'background' with 'stream' is not supported through this gateway; "
                                "poll the response with GET instead.", param="stream", code="unsupported_parameter")
    shell = codec.response_shell(req, response_id)
    shell["status"] = "queued"
    # The job first: a crash between the two writes leaves a job without a response, which the
    # next start drops; the other order would leave a queued response nobody runs.
    await store.put_job(owner, response_id, {"body": req.body, "history": history, "search": _search_state(search),
                                             "caller": caller_id()})
    await store.put(owner, shell, kept)
    _launch(store, gateway, req, deployments, shell, owner, kept, search, contextvars.copy_context())
    return shell


def _launch(store: ResponseStore, gateway: Gateway, req: codec.ResponsesRequest, deployments: list[Deployment],
            shell: dict[str, Any], owner: bytes, kept: list[dict[str, Any]], search: Search | None,
            context: contextvars.Context) -> None:
    """Run the job in `context`: the request's, or at a restart one holding the key's grant."""
    response_id = shell["id"]
    task = asyncio.get_running_loop().create_task(
        _run(store, gateway, req, deployments, shell, owner, kept, search), name=response_id, context=context)
    store.running[response_id] = task


async def _run(store: ResponseStore, gateway: Gateway, req: codec.ResponsesRequest, deployments: list[Deployment],
               shell: dict[str, Any], owner: bytes, kept: list[dict[str, Any]], search: Search | None) -> None:
    response_id = shell["id"]
    try:
        await store.start_job(response_id)
        await store.put(owner, {**shell, "status": "in_progress"}, kept)
        try:
            result = await gateway.complete(req.chat, deployments)
            obj = codec.encode_response(req, result, response_id)
            obj["created_at"] = shell["created_at"]
            add_vendor_annotations(obj, result)
            if search is not None:
                cite(obj, search)
        except GatewayError as err:
            obj = {**shell, "status": "failed", "error": codec.response_error(err)}
        except Exception:
            log.exception("background response %s failed", response_id)
            obj = {**shell, "status": "failed", "error": {"code": "server_error", "message": "Internal gateway error."}}
        await store.put(owner, obj, kept)
        await store.drop_job(response_id)
    except asyncio.CancelledError:
        if store.closing:  # a graceful stop: the next start runs it again, and this run does not count
            await store.start_job(response_id, -1)
        else:  # the client cancelled or deleted it
            await store.put(owner, {**shell, "status": "cancelled"}, kept)
            await store.drop_job(response_id)
        raise
    finally:
        # Only once the outcome is stored: a GET in between must not take it for lost.
        store.running.pop(response_id, None)


def _restarted(shell: dict[str, Any], runs: int) -> dict[str, Any]:
    return {**shell, "status": "failed", "error": {"code": "server_error", "message": (
        f"The gateway stopped unexpectedly {runs} times while this background response was running; "
        "it was not started again.")}}


async def resume(store: ResponseStore, gateway: Gateway, accounts: Accounts) -> int:
    """Start again every background job a previous process left unfinished; how many were started.
    `accounts`: the store keys, one of which a job may run as."""
    started = 0
    for response_id, owner, runs, job in await store.jobs():
        try:
            started += await _resume_one(store, gateway, accounts, response_id, owner, runs, job)
        except Exception:  # one job the code cannot read must not keep the gateway from starting
            log.exception("background response %s could not be resumed", response_id)
            await store.drop_job(response_id)
    if started:
        log.info("resumed %d background response(s) left unfinished by the last run", started)
    return started


async def _resume_one(store: ResponseStore, gateway: Gateway, accounts: Accounts, response_id: str,
                      owner: bytes, runs: int, job: dict[str, Any]) -> int:
    """Start one job again (1), or settle it (0)."""
    found = await store.get(owner, response_id)
    if found is None or found[0].get("status") in _FINAL:
        await store.drop_job(response_id)  # expired, deleted, or finished just before the end
        return 0
    stored, kept = found
    shell = {**stored, "status": "queued", "output": [], "error": None}
    if runs >= MAX_RUNS:
        await store.put(owner, _restarted(shell, runs), kept)
        await store.drop_job(response_id)
        return 0
    # The run's own context, holding the grant of the key that created it (if a store key did).
    context = contextvars.copy_context()
    try:
        if (key_id := job.get("caller")) is not None:
            context.run(caller.set, accounts.resumed(key_id))
        req = codec.decode_request(job["body"], job["history"])
        deployments = context.run(gateway.resolve, req.body["model"], req.body)
    except GatewayError as err:  # the model is no longer configured or allowed, the key revoked, say
        await store.put(owner, {**shell, "status": "failed", "error": codec.response_error(err)}, kept)
        await store.drop_job(response_id)
        return 0
    search = _search_of(job.get("search"))
    if search is not None:
        req.chat.enable_search = None
        req.chat.extra.pop("web_search_options", None)
        search.brief(req.chat)
    await store.put(owner, shell, kept)
    _launch(store, gateway, req, deployments, shell, owner, kept, search, context)
    return 1


async def resume_on_start(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context after the response store's: jobs resume once the gateway can call out,
    and stop (left for the next start) before the store closes."""
    await resume(app[keys.RESPONSES], app[keys.GATEWAY], app[keys.ACCOUNTS])
    yield
