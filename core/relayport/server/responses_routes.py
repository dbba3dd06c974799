"""The OpenAI Responses surface: `POST /v1/responses` in front of every chat model, and the
stored responses (`GET`/`DELETE /v1/responses/{id}`, `GET .../input_items`), and
`POST /v1/responses/input_tokens` (relayport.server.responses_count); `background: true`
answers `queued` at once and is polled with GET, cancelled with `POST .../cancel`.

Vendors that declare the "responses" capability get the call passed through (their own state,
their own ids); every other vendor is reached by translation through the canonical model
(relayport.wire.openai_responses), and its responses are kept in the gateway's store when
`store` is true (the default), bound to the calling gateway key.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web

from relayport import server_tools
from relayport.gateway import SSE_HEADERS
from relayport.model.errors import GatewayError
from relayport.model.stream import StreamError
from relayport.provider import OPENAI_RESPONSES, Route, Surface
from relayport.responses.annotations import StreamCitations, add_vendor_annotations
from relayport.responses.store import owner_of
from relayport.search_tool import SEARCH_TOOL, Search, announce, native_search
from relayport.server import responses_background as background
from relayport.server.auth import owner_identity
from relayport.server.errors import render_openai
from relayport.server.json_body import read_json_object
from relayport.server.keys import GATEWAY, RESPONSES
from relayport.server.responses_count import count_input_tokens
from relayport.wire import openai_responses as codec
from relayport.wire.fields import get

log = logging.getLogger("relayport.server")


def _not_found(response_id: str, param: str | None = None) -> GatewayError:
    return GatewayError(404, f"Response with id '{response_id}' not found.", param=param,
                        type="invalid_request_error", code="not_found" if param is None else "previous_response_not_found")


def _json(obj: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), content_type="application/json", headers=headers)


def stored_items(items: list[Any]) -> list[dict[str, Any]]:
    """Input items as they are kept and listed: every item typed and with an id."""
    out: list[dict[str, Any]] = []
    for item in items:
        item = dict(item)
        kind = item.setdefault("type", "message")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                part = "output_text" if item.get("role") == "assistant" else "input_text"
                item["content"] = [{"type": part, "text": content}]
        item.setdefault("status", "completed")
        if "id" not in item:
            item["id"] = codec.new_id({"message": "msg_", "function_call_output": "fco_"}.get(kind, "item_"))
        out.append(item)
    return out


async def create_response(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    body = await read_json_object(request)
    model = get(body, "model", str, "model", required=True)
    deployments = gateway.resolve(model, body)
    forwarded = await gateway.passthrough(request, OPENAI_RESPONSES, body, deployments)
    if not isinstance(forwarded, list):
        return forwarded
    deployments = forwarded
    body["model"] = model  # a passthrough attempt that fell back may have renamed it

    store = request.app[RESPONSES]
    owner = owner_of(owner_identity(request))
    history: list[dict[str, Any]] | None = None
    previous = get(body, "previous_response_id", str, "previous_response_id")
    if previous:
        found = await store.get(owner, previous)
        if found is None:
            raise _not_found(previous, "previous_response_id")
        prev_response, prev_input = found
        history = prev_input + prev_response["output"]
    req = codec.decode_request(body, history)
    search = None
    search_tool = request.app.get(SEARCH_TOOL) if req.web_search else None
    if search_tool is not None and search_tool.applies(deployments[0]):
        search = await search_tool.augment(request, req.chat)
    elif req.web_search and not native_search(deployments[0]):
        raise GatewayError(400, f"The web_search tool is not available for '{model}': its vendor "
                                f"'{deployments[0].provider.name}' has no web search.",
                           param="tools", code="unsupported_tool")
    response_id = codec.new_id("resp_")
    kept = stored_items((history or []) + req.input_items) if req.store else []

    if req.background:
        # Durable: kept in the state file and resumed by the next start (responses_background).
        queued = await background.start(store, gateway, req, deployments, response_id, owner, kept, history, search)
        return _json(queued)
    if not req.chat.stream:
        result = await gateway.complete(req.chat, deployments)
        obj = codec.encode_response(req, result, response_id)
        add_vendor_annotations(obj, result)
        if search is not None:
            _cite(obj, search, result.headers)
        if req.store:
            await store.put(owner, obj, kept)
        return _json(obj, result.headers)

    stream = await gateway.open_stream(req.chat, deployments)
    if search is not None:
        announce(stream.headers, search.note)
    out = web.StreamResponse(headers={**SSE_HEADERS, **stream.headers} if stream.headers else SSE_HEADERS)
    encoder = codec.EventEncoder(codec.response_shell(req, response_id))
    if search is not None:
        encoder.annotate = search.output_annotations
    # The vendor's own citations, where a server tool may bring them (never on plain calls).
    citations = StreamCitations(encoder.annotate) if server_tools.asked(req.chat) else None
    if citations is not None:
        encoder.annotate = citations
    head = encoder.start()
    try:
        await out.prepare(request)
        async for batch in stream:
            if citations is not None:
                citations.observe(batch)
            data = encoder.encode(batch)
            if head:
                # The opening events leave with the first tokens: one write, no added delay.
                data, head = head + data, b""
            if stream.done or isinstance(batch[-1], StreamError):
                await _end(out, data, encoder, req.store, store, owner, kept)
                return out
            if data:
                await out.write(data)
        await _end(out, head, encoder, req.store, store, owner, kept)
    finally:
        await stream.aclose()
    return out


def _cite(obj: dict[str, Any], search: Search, headers: dict[str, str]) -> None:
    """`url_citation` annotations on the output text, for the `[n]` markers the model wrote."""
    background.cite(obj, search)
    announce(headers, search.note)


async def _end(out: web.StreamResponse, data: bytes, encoder: codec.EventEncoder, keep: bool,
               store: Any, owner: bytes, kept: list[dict[str, Any]]) -> None:
    tail = encoder.finish()
    if keep and encoder.response is not None:
        # Stored before the last event leaves: a client that chains the next call on
        # `response.completed` must find it.
        await store.put(owner, encoder.response, kept)
    await out.write_eof(data + tail)


# ---------------------------------------------------------------------------- background


async def _settled(store: Any, owner: bytes, found: tuple[dict[str, Any], list[dict[str, Any]]]) -> dict[str, Any]:
    """A stored response; a background one that is neither running nor resumable (a job the
    start could not resume) is failed for good."""
    obj, items = found
    if obj["status"] in ("queued", "in_progress") and obj["id"] not in store.running:
        obj = {**obj, "status": "failed", "error": {
            "code": "server_error", "message": "The gateway restarted before this background response finished."}}
        await store.put(owner, obj, items)
    return obj


async def cancel_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    store = request.app[RESPONSES]
    owner = owner_of(owner_identity(request))
    found = await store.get(owner, response_id)
    if found is None:
        raise _not_found(response_id)
    if not found[0].get("background"):
        raise GatewayError(400, "Only background responses can be cancelled.", param="response_id",
                           code="invalid_value")
    task = store.running.get(response_id)
    if task is not None:
        task.cancel()
        await asyncio.wait([task])
        found = await store.get(owner, response_id) or found
    return _json(await _settled(store, owner, found))


async def get_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    store = request.app[RESPONSES]
    owner = owner_of(owner_identity(request))
    found = await store.get(owner, response_id)
    if found is None:
        raise _not_found(response_id)
    return _json(await _settled(store, owner, found))


async def delete_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    store = request.app[RESPONSES]
    owner = owner_of(owner_identity(request))
    task = store.running.get(response_id)
    if task is not None and await store.get(owner, response_id) is not None:
        # Stopped first: a background task finishing later would store the response again.
        task.cancel()
        await asyncio.wait([task])
    if not await store.delete(owner, response_id):
        raise _not_found(response_id)
    return _json({"id": response_id, "object": "response.deleted", "deleted": True})


async def list_input_items(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    found = await request.app[RESPONSES].get(owner_of(owner_identity(request)), response_id)
    if found is None:
        raise _not_found(response_id)
    items = found[1]
    query = request.query
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise GatewayError(400, f"Invalid value for 'order': {order!r}; expected asc or desc.", param="order",
                           code="invalid_value")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise GatewayError(400, "Invalid value for 'limit': expected an integer.", param="limit",
                           code="invalid_value") from None
    if not 1 <= limit <= 100:
        raise GatewayError(400, "Invalid value for 'limit': expected 1 to 100.", param="limit", code="invalid_value")
    if order == "desc":
        items = items[::-1]
    after = query.get("after")
    if after:
        at = next((i for i, it in enumerate(items) if it.get("id") == after), None)
        if at is None:
            raise GatewayError(400, f"Invalid value for 'after': no item '{after}' in this response.",
                               param="after", code="invalid_value")
        items = items[at + 1:]
    page = items[:limit]
    return _json({"object": "list", "data": page, "has_more": len(items) > limit,
                  "first_id": page[0]["id"] if page else "", "last_id": page[-1]["id"] if page else ""})


def responses_surface() -> Surface:
    return Surface(
        "openai.responses",
        (
            Route("POST", "/v1/responses", create_response),
            Route("POST", "/v1/responses/input_tokens", count_input_tokens),
            Route("GET", "/v1/responses/{response_id}", get_response),
            Route("DELETE", "/v1/responses/{response_id}", delete_response),
            Route("GET", "/v1/responses/{response_id}/input_items", list_input_items),
            Route("POST", "/v1/responses/{response_id}/cancel", cancel_response),
        ),
        render_error=render_openai,
    )


__all__ = ["responses_surface", "create_response"]
