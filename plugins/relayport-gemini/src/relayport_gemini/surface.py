"""The Gemini API in front of every configured model.

`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (SSE with `alt=sse`,
one JSON array without), `:countTokens`, and `GET /v1beta/models[/{model}]`, all also under
`/v1/` (recent google-genai releases call `/v1/`). Gemini models get the client's body as sent
(passthrough); every other vendor is reached through the canonical model. Errors use Google's
envelope. `GET /v1/models[/...]` is shared with OpenAI and Anthropic: Gemini clients are the
ones that send `x-goog-api-key` (or `?key=`).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.model.errors import GatewayError
from relayport.provider import Route, Surface
from relayport.services import services
from relayport_gemini import ingress
from relayport_gemini.errors import render_error
from relayport_gemini.passthrough import COUNT_TOKENS, GENERATE, STREAM, STREAM_SSE

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
ARRAY_HEADERS = {"Content-Type": "application/json; charset=UTF-8", "Cache-Control": "no-cache",
                 "X-Accel-Buffering": "no"}
_ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")


def _target(request: web.Request) -> tuple[str, str]:
    model, _, action = request.match_info["model"].rpartition(":")
    if not model or action not in _ACTIONS:
        raise GatewayError(404, f"Method not found: '{request.match_info['model']}'; use "
                                "models/{model}:generateContent, :streamGenerateContent or :countTokens.")
    return model.removeprefix("models/"), action


async def generate(request: web.Request) -> web.StreamResponse:
    model, action = _target(request)
    svc = services(request)
    body = await svc.read_json(request)
    sse = request.query.get("alt") == "sse"
    streaming = action == "streamGenerateContent"
    surface = COUNT_TOKENS if action == "countTokens" else (STREAM_SSE if sse else STREAM) if streaming else GENERATE
    gateway = svc.gateway
    forwarded = await gateway.passthrough(request, surface, body, gateway.resolve(model))
    if not isinstance(forwarded, list):
        return forwarded
    if action == "countTokens":
        raise GatewayError(501, f"Token counting is not available for '{model}': its vendor has no "
                                "countTokens endpoint.", code="UNIMPLEMENTED")
    chat = ingress.decode_request(body, model, streaming)
    if not streaming:
        result = await gateway.complete(chat, forwarded)
        return web.Response(body=orjson.dumps(ingress.encode_response(result, model)),
                            content_type="application/json", headers=result.headers)
    stream = await gateway.open_stream(chat, forwarded)
    out = web.StreamResponse(headers={**(SSE_HEADERS if sse else ARRAY_HEADERS), **stream.headers})
    encoder = ingress.StreamEncoder(model, sse)
    failed = False
    try:
        await out.prepare(request)
        async for events in stream:
            data = encoder.encode(events)
            if data:
                await out.write(data)  # one write per upstream read
            if events and isinstance(events[-1], ingress.StreamError):
                failed = True
                break
        if not failed:
            await out.write(encoder.end())
    finally:
        await stream.aclose()
    await out.write_eof()
    return out


def _model_info(name: str, provider: str) -> dict[str, Any]:
    return {"name": f"models/{name}", "baseModelId": name, "version": "001", "displayName": name,
            "description": f"{name}, served by {provider} through relayport",
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}


async def list_models(request: web.Request) -> web.Response:
    models = [_model_info(name, dep.provider.name) for name, dep in services(request).models()]
    return web.Response(body=orjson.dumps({"models": models}), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["model"].removeprefix("models/")
    deployments = services(request).gateway.resolve(name)  # 404 in Google's envelope when unknown
    return web.Response(body=orjson.dumps(_model_info(name, deployments[0].provider.name)),
                        content_type="application/json")


def claims(request: web.Request) -> bool:
    """Gemini clients send their key as `x-goog-api-key` or `?key=` (google-genai also sends
    `x-goog-api-client`); OpenAI and Anthropic clients send neither."""
    headers = request.headers
    return "x-goog-api-key" in headers or "key" in request.query or "x-goog-api-client" in headers


SURFACE = Surface(
    name=GENERATE,
    routes=(
        Route("POST", "/v1beta/models/{model:.+}", generate),
        Route("GET", "/v1beta/models", list_models),
        Route("GET", "/v1beta/models/{model:.+}", get_model),
        Route("POST", "/v1/models/{model:.+}", generate),
        Route("GET", "/v1/models", list_models),
        Route("GET", "/v1/models/{model:.+}", get_model),
    ),
    render_error=render_error,
    claims=claims,
)
