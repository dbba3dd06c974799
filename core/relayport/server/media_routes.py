"""Media routes: video/image tasks, OpenAI's images, videos, speech and embeddings.

Task ids are bound to the gateway key that created them: another key (or none) gets the same
404 as an id that never existed, so ids cannot be probed. Calls in the unified gateway form
(`messages` + media arrays, seed 003) get the vendor's own result structure; OpenAI-form calls
get OpenAI's shapes, so the `openai` SDK works unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from relayport import calls
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse, adjustment_headers
from relayport.model.media import MediaKind, MediaRequest, TaskRecord, TaskStatus
from relayport.provider import Deployment, Route, Surface
from relayport.server.auth import owner_identity, presented_key
from relayport.server.errors import render_openai
from relayport.server.json_body import read_json_object
from relayport.server.keys import CONFIG, GATEWAY, KEYRING, RESULTS, ROUTER, TASK_RUNNER
from relayport.server.speech_routes import speech
from relayport.urlguard import check_url
from relayport.wire import embeddings, media
from relayport.wire.tasks import content_path, openai_video, unified


def json_response(obj: Any, status: int = 200, task: TaskRecord | None = None) -> web.Response:
    headers = adjustment_headers(task.adjustments) if task is not None else None
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json", headers=headers)


def owner_of(request: web.Request) -> str:
    """Whom a task belongs to: a digest of the caller's identity (never the key itself)."""
    if not request.app[KEYRING].enabled:
        return "anonymous"
    return _owner_digest(owner_identity(request) or "")


def _owner_digest(identity: str) -> str:
    return hashlib.sha256(b"relayport-task-owner:" + identity.encode()).hexdigest()[:32]


def owns(request: web.Request, task: TaskRecord) -> bool:
    """The caller owns the task; tasks a store key made before ownership followed the key's id
    (when it was the secret's digest) stay its own until its secret is rotated."""
    if task.owner == owner_of(request):
        return True
    return calls.caller.get() is not None and task.owner == _owner_digest(presented_key(request) or "")


def origin_of(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def not_found(task_id: str) -> GatewayError:
    return GatewayError(404, f"No task found with id '{task_id[:64]}'.", param="task_id", code="task_not_found")


async def load_task(request: web.Request, kind: MediaKind | None) -> TaskRecord:
    task_id = request.match_info["task_id"]
    runner = request.app[TASK_RUNNER]
    task = await runner.store.get(task_id) if len(task_id) <= 64 else None
    if task is None or not owns(request, task) or (kind is not None and task.request.kind is not kind):
        raise not_found(task_id)
    # Poll early when the client asks and the last poll is older than the interval.
    if not task.status.final and time.time() - task.last_polled_at >= runner.interval(task.provider):
        task = await runner.poll(task)
    return task


async def submit(request: web.Request, req: MediaRequest, callback_url: str | None = None,
                 keep_sync: bool = True) -> TaskRecord:
    """Start the task on the first deployment that takes it (retryable errors fall back)."""
    app = request.app
    runner = app[TASK_RUNNER]
    if callback_url is not None:
        if not runner.callback_secret:
            raise GatewayError(400, "'callback_url' needs tasks.callback_secret in the gateway config "
                                    "(callbacks are always signed).", param="callback_url", code="callbacks_disabled")
        check_url(callback_url, app[CONFIG].fetch)
    owner, origin = owner_of(request), origin_of(request)
    task: TaskRecord = await app[GATEWAY].call(app[ROUTER].resolve(req.model), lambda dep: runner.submit(
        dep, req, owner=owner, callback_url=callback_url, origin=origin, keep_sync=keep_sync))
    return task


def _callback(body: dict[str, Any]) -> str | None:
    value = body.get("callback_url")
    if value is not None and not isinstance(value, str):
        raise GatewayError(400, "Invalid type for 'callback_url': expected a URL string.", param="callback_url",
                           code="invalid_type")
    return value


async def wait_final(request: web.Request, task: TaskRecord) -> TaskRecord:
    """Hold a synchronous-shaped call (OpenAI images, speech) until an async vendor's task ends."""
    runner = request.app[TASK_RUNNER]
    give_up = time.time() + request.app[CONFIG].tasks.sync_wait
    while not task.status.final:
        if time.time() > give_up:
            raise GatewayError(504, f"The task {task.id} is still running; poll "
                                    f"GET {content_path(task).rsplit('/', 1)[0]} for its result.",
                               code="task_still_running")
        # The background poller polls it; look again just after its next poll is due, and poll
        # here only if it has not (a busy poller must not hold a waiting client back).
        await asyncio.sleep(min(runner.interval(task.provider), max(0.0, task.next_poll_at - time.time())) + 0.05)
        fresh = await runner.store.get(task.id) or task
        if not fresh.status.final and fresh.last_polled_at == task.last_polled_at:
            fresh = await runner.poll(fresh)
        task = fresh
    if task.status is not TaskStatus.SUCCEEDED:
        raise task.error or GatewayError(502, f"The task ended {task.status.value}.", code=f"task_{task.status.value}")
    return task


# ------------------------------------------------------------------ unified task routes


def _task_routes(kind: MediaKind) -> tuple[Any, Any, Any, Any]:
    async def create(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        req = media.decode(body, kind)
        keep = kind is not MediaKind.IMAGE or body.get("async") is True
        task = await submit(request, req, _callback(body), keep_sync=keep)
        if kind is MediaKind.IMAGE and body.get("async") is not True:
            return await _image_answer(request, body, task)
        answer = unified(task, origin_of(request))
        if media.seed_form(body) and isinstance(task.native, dict):
            # Seed 003's clients read the vendor's submit answer (`output.task_status`) beside the
            # gateway's `task_id`; the unified fields win where the names meet.
            answer = {**task.native, **answer}
        return json_response(answer, task=task)

    async def retrieve(request: web.Request) -> web.Response:
        task = await load_task(request, kind)
        if request.query.get("format") == "native":
            return json_response(task.native if task.native is not None else {})
        return json_response(unified(task, origin_of(request)))

    async def cancel(request: web.Request) -> web.Response:
        task = await load_task(request, kind)
        task = await request.app[TASK_RUNNER].cancel(task)
        return json_response(unified(task, origin_of(request)))

    async def content(request: web.Request) -> web.StreamResponse:
        task = await load_task(request, kind)
        try:
            index = int(request.query.get("index", "0"))
        except ValueError:
            raise GatewayError(400, "'index' must be an integer.", param="index") from None
        return await serve_content(request, task, index)

    return create, retrieve, cancel, content


async def serve_content(request: web.Request, task: TaskRecord, index: int) -> web.StreamResponse:
    """The stored copy of a result, with Range support (a browser can seek a video)."""
    if task.status is not TaskStatus.SUCCEEDED:
        raise GatewayError(409 if not task.status.final else 404,
                           f"The task is {task.status.value}; there is no content yet." if not task.status.final
                           else f"The task ended {task.status.value}; it has no content.",
                           code="content_not_ready" if not task.status.final else "no_content")
    if not 0 <= index < len(task.outputs):
        raise GatewayError(404, f"The task has {len(task.outputs)} result(s); index {index} is not one.",
                           param="index", code="no_content")
    results = request.app[RESULTS]
    path = results.path(task.id, index)
    if not path.is_file():
        # Not copied yet (or evicted): fetch it now while the vendor still has it, sharing the
        # poller's copy if one is under way.
        runner = request.app[TASK_RUNNER]
        dep = runner.deployment(task)
        await results.ensure(task.id, index, lambda: runner.output_chunks(dep, task, index, task.outputs[index]))
    media_type = task.outputs[index].media_type or _default_type(task)
    return web.FileResponse(path, headers={"Content-Type": media_type, "Cache-Control": "private, max-age=3600"})


def _default_type(task: TaskRecord) -> str:
    return {MediaKind.VIDEO: "video/mp4", MediaKind.IMAGE: "image/png", MediaKind.SPEECH: "audio/mpeg"}[
        task.request.kind]


# ------------------------------------------------------------------ images


async def _image_answer(request: web.Request, body: dict[str, Any], task: TaskRecord) -> web.Response:
    task = await wait_final(request, task)
    if media.seed_form(body) and task.native is not None:
        return json_response(task.native, task=task)
    fmt = body.get("response_format") or "url"
    data = []
    for i, out in enumerate(task.outputs):
        item: dict[str, Any] = {}
        if fmt == "b64_json" or (out.url is None and out.b64 is not None):
            b64 = out.b64
            if b64 is None:
                results = request.app[RESULTS]
                runner = request.app[TASK_RUNNER]
                await results.ensure(task.id, i, partial(runner.output_chunks, runner.deployment(task), task, i, out))
                b64 = base64.b64encode(await asyncio.to_thread(results.path(task.id, i).read_bytes)).decode()
            item["b64_json"] = b64
        elif task.vendor_task_id is None:
            item["url"] = out.url  # a synchronous vendor's own URL
        else:
            item["url"] = origin_of(request) + content_path(task, i)  # async vendors' URLs expire
        if "revised_prompt" in out.extra:
            item["revised_prompt"] = out.extra["revised_prompt"]
        data.append(item)
    answer: dict[str, Any] = {"created": int(task.created_at), "data": data}
    if task.usage is not None:
        answer["usage"] = {"input_tokens": task.usage.input_tokens, "output_tokens": task.usage.output_tokens,
                           "total_tokens": task.usage.total_tokens}
    return json_response(answer, task=task)


async def image_edits(request: web.Request) -> web.Response:
    if request.content_type == "multipart/form-data":
        body, files = await media.read_form(request, ("image", "mask"))
        images = files.get("image", [])
        if files.get("mask"):
            body["mask"] = files["mask"][0]
    else:
        body = await read_json_object(request)
        images = []
        for key in ("image", "images"):
            value = body.pop(key, None)
            if isinstance(value, str):
                images.append(value)
            elif isinstance(value, list):
                images.extend(v if isinstance(v, str) else (v or {}).get("url") or v.get("image_url") for v in value)
    if not images:
        raise GatewayError(400, "Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    req = media.decode(body, MediaKind.IMAGE)
    req.media.images = [str(i) for i in images] + req.media.images
    req.extra["operation"] = "edit"
    task = await submit(request, req, _callback(body), keep_sync=body.get("async") in (True, "true"))
    if body.get("async") in (True, "true"):
        return json_response(unified(task, origin_of(request)))
    return await _image_answer(request, body, task)


# ------------------------------------------------------------------ OpenAI videos


async def openai_videos_create(request: web.Request) -> web.Response:
    if request.content_type == "multipart/form-data":
        body, files = await media.read_form(request, ("input_reference",))
        reference = files.get("input_reference", [])
    else:
        body = await read_json_object(request)
        ref = body.pop("input_reference", None)
        reference = [ref] if isinstance(ref, str) else []
    req = media.decode(body, MediaKind.VIDEO)
    if not req.prompt:
        raise GatewayError(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if reference:
        req.media.images = reference + req.media.images
        req.media.roles.setdefault("images", ["first_frame"])
    if "seconds" in body:
        req.extra["seconds"] = str(body["seconds"])
    task = await submit(request, req, _callback(body))
    return json_response(openai_video(task), task=task)


async def openai_videos_retrieve(request: web.Request) -> web.Response:
    return json_response(openai_video(await load_task(request, MediaKind.VIDEO)))


async def openai_videos_delete(request: web.Request) -> web.Response:
    """`client.videos.delete`: an unfinished task is cancelled at the vendor first (where the vendor
    can cancel; otherwise the error says so and nothing is deleted), then the task and its stored
    result are gone, and a later GET is 404."""
    task = await load_task(request, MediaKind.VIDEO)
    runner = request.app[TASK_RUNNER]
    if not task.status.final:
        task = await runner.cancel(task)
    await runner.delete(task)
    return json_response({"id": task.id, "object": "video.deleted", "deleted": True})


async def openai_videos_content(request: web.Request) -> web.StreamResponse:
    variant = request.query.get("variant", "video")
    if variant != "video":
        raise GatewayError(404, f"Variant '{variant}' is not stored; only 'video' is.", param="variant",
                           code="no_content")
    return await serve_content(request, await load_task(request, MediaKind.VIDEO), 0)


# ------------------------------------------------------------------ embeddings


async def create_embeddings(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    req, fmt = embeddings.decode_request(body)
    runner = request.app[TASK_RUNNER]
    deployments = request.app[ROUTER].resolve(req.model)

    async def attempt(dep: Deployment) -> web.Response:
        up = dep.hooks.relayport_embeddings_request(deployment=dep, request=req)
        if up is None:
            raise GatewayError(501, f"Provider '{dep.provider.name}' does not serve embeddings.",
                               code="unsupported_operation")
        response: UpstreamResponse = await runner.call(dep, up)
        result = dep.hooks.relayport_parse_embeddings(deployment=dep, request=req, response=response)
        if result is None:
            raise GatewayError(501, f"Provider '{dep.provider.name}' cannot parse embeddings.")
        return json_response(embeddings.encode_response(result, fmt, req.model))

    answer: web.Response = await request.app[GATEWAY].call(deployments, attempt)
    return answer


def media_surface() -> Surface:
    vc, vr, vd, vcontent = _task_routes(MediaKind.VIDEO)
    ic, ir, idel, icontent = _task_routes(MediaKind.IMAGE)
    return Surface(
        "openai.media",
        (
            Route("POST", "/v1/videos/generations", vc),
            Route("GET", "/v1/videos/generations/{task_id}", vr),
            Route("DELETE", "/v1/videos/generations/{task_id}", vd),
            Route("GET", "/v1/videos/generations/{task_id}/content", vcontent),
            Route("POST", "/v1/images/generations", ic),
            Route("GET", "/v1/images/generations/{task_id}", ir),
            Route("DELETE", "/v1/images/generations/{task_id}", idel),
            Route("GET", "/v1/images/generations/{task_id}/content", icontent),
            Route("POST", "/v1/images/edits", image_edits),
            Route("POST", "/v1/videos", openai_videos_create),
            Route("GET", "/v1/videos/{task_id}", openai_videos_retrieve),
            Route("GET", "/v1/videos/{task_id}/content", openai_videos_content),
            Route("DELETE", "/v1/videos/{task_id}", openai_videos_delete),
            Route("POST", "/v1/audio/speech", speech),
            Route("POST", "/v1/embeddings", create_embeddings),
        ),
        render_error=render_openai,
    )
