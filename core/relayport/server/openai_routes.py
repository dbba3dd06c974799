"""The OpenAI surface: chat completions and the model list."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport import server_tools
from relayport.gateway import SSE_HEADERS
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.stream import Finish, StreamError, StreamEvent, TextDelta
from relayport.provider import OPENAI_CHAT, Deployment, Route, Surface
from relayport.search_tool import SEARCH_TOOL, Search, announce
from relayport.server.errors import render_openai
from relayport.server.json_body import read_json_object
from relayport.server.keys import GATEWAY, ROUTER
from relayport.wire import legacy_functions, newapi_usage, openai_chat
from relayport.wire.fields import get, invalid

# `function`: OpenAI's deprecated function-calling role, which OpenAI-format vendors still take.
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def check_passthrough_body(body: dict[str, Any]) -> None:
    """The checks a passed-through body gets: the shape errors a client must hear from us
    (named field, 400) without decoding the whole request into canonical objects."""
    messages = get(body, "messages", list, "messages", required=True)
    if not messages:
        raise GatewayError(400, "'messages' must contain at least one message.", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise invalid(f"messages[{i}]", "an object")
        role = get(m, "role", str, f"messages[{i}].role", required=True)
        if role not in _ROLES:
            raise GatewayError(400, f"Invalid value for 'messages[{i}].role': {role!r}.",
                               param=f"messages[{i}].role", code="invalid_value")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise invalid(f"messages[{i}].content", "a string or an array of content parts")
    get(body, "stream", bool, "stream")
    get(body, "stream_options", dict, "stream_options")
    get(body, "tools", list, "tools")
    get(body, "max_tokens", int, "max_tokens")
    get(body, "max_completion_tokens", int, "max_completion_tokens")
    get(body, "temperature", float, "temperature")
    get(body, "top_p", float, "top_p")
    get(body, "n", int, "n")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    body = await read_json_object(request)
    model = get(body, "model", str, "model", required=True)
    deployments = gateway.resolve(model, body)
    compat = deployments[0].provider.openai_compat
    if compat is not None and not (compat.native_form is not None and compat.native_form(body)):
        check_passthrough_body(body)
    search_tool = request.app.get(SEARCH_TOOL)
    if "tools" in body:
        server_tools.check(body, deployments[0], search_tool is not None)
    if search_tool is not None and search_tool.wanted(body) and search_tool.applies(deployments[0]):
        # Web search run by the gateway: the call is translated so its answer can be cited.
        chat = openai_chat.decode_request(body)
        return await _answer(request, chat, deployments, await search_tool.augment(request, chat))
    forwarded = await gateway.passthrough(request, OPENAI_CHAT, body, deployments)
    if not isinstance(forwarded, list):
        return forwarded
    deployments = forwarded  # those left to translate for
    return await _answer(request, openai_chat.decode_request(body), deployments)


async def _answer(request: web.Request, chat: ChatRequest, deployments: list[Deployment],
                  search: Search | None = None) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    if not chat.stream:
        result = await gateway.complete(chat, deployments)
        answer = openai_chat.encode_response(result)
        if gateway.new_api_usage and isinstance(answer.get("usage"), dict):
            newapi_usage.add_fields(answer["usage"])
        if chat.legacy_functions:
            legacy_functions.encode_response(answer)
        if search is not None:
            cite(answer, search, result.headers)
        return web.Response(body=orjson.dumps(answer), content_type="application/json", headers=result.headers)
    stream = await gateway.open_stream(chat, deployments)
    if search is not None:
        announce(stream.headers, search.note)
    out = web.StreamResponse(headers={**SSE_HEADERS, **stream.headers} if stream.headers else SSE_HEADERS)
    encoder = openai_chat.ChunkEncoder("", chat.model, chat.include_usage,
                                       legacy_functions=chat.legacy_functions)
    said: list[str] = []
    if gateway.new_api_usage:
        encoder.extend_usage = newapi_usage.add_fields
    try:
        await out.prepare(request)
        async for batch in stream:
            data = encoder.encode(batch) if search is None else _encode_citing(encoder, batch, search, said)
            if stream.done or isinstance(batch[-1], StreamError):
                # The last events and the end of the response leave in one write.
                await out.write_eof(data + encoder.finish())
                return out
            if data:
                await out.write(data)
        await out.write_eof(encoder.finish())
    finally:
        await stream.aclose()
    return out


def cite(answer: dict[str, Any], search: Search, headers: dict[str, str]) -> None:
    """`url_citation` annotations on each choice's message, for the `[n]` it wrote."""
    for choice in answer.get("choices") or ():
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            message["annotations"] = search.annotations(message["content"])
    announce(headers, search.note)


def _encode_citing(encoder: openai_chat.ChunkEncoder, batch: list[StreamEvent], search: Search,
                   said: list[str]) -> bytes:
    """Encode a batch, keeping the text; the annotations go out in one chunk before the finish."""
    for i, ev in enumerate(batch):
        if isinstance(ev, TextDelta):
            said.append(ev.text)
        elif isinstance(ev, Finish):
            notes = encoder.delta({"annotations": search.annotations("".join(said))})
            return encoder.encode(batch[:i]) + notes + encoder.encode(batch[i:])
    return encoder.encode(batch)


def _model_entry(name: str, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": owner}


async def list_models(request: web.Request) -> web.Response:
    router = request.app[ROUTER]
    data = [_model_entry(name, dep.provider.name) for name, dep in router.names()]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["model"]
    deployments = request.app[ROUTER].resolve(name)
    return web.Response(body=orjson.dumps(_model_entry(name, deployments[0].provider.name)),
                        content_type="application/json")


def openai_surface() -> Surface:
    return Surface(
        "openai",
        (
            Route("POST", "/v1/chat/completions", chat_completions),
            Route("GET", "/v1/models", list_models),
            Route("GET", "/v1/models/{model:.+}", get_model),
        ),
        render_error=render_openai,
    )


__all__ = ["openai_surface", "chat_completions"]
