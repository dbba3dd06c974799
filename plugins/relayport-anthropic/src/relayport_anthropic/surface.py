"""`POST /v1/messages` and `POST /v1/messages/count_tokens` for every configured model.

Claude, and vendors with an Anthropic-compatible endpoint (`compat.native_plan`), get the
client's bytes and streams back untouched; every other vendor is reached through the canonical model,
its stream re-emitted as Anthropic events. Errors use Anthropic's envelope (the core's error
middleware calls `render_error` for these routes).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.model.errors import GatewayError
from relayport.model.http import adjustment_headers
from relayport.provider import Deployment, Route, Surface
from relayport.services import services
from relayport.vendor_headers import UPSTREAM_REQUEST_ID
from relayport.wire.fields import get
from relayport_anthropic import estimate, ingress
from relayport_anthropic.compat import native_plan
from relayport_anthropic.errors import render_error
from relayport_anthropic.events import EventEncoder
from relayport_anthropic.passthrough import COUNT_TOKENS, MESSAGES

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}
# Client headers that tell Anthropic which API features the client uses; they go along on
# passthrough (never auth headers: the gateway's key is not the vendor's).
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def _gateway(request: web.Request) -> Any:
    return services(request).gateway


async def _body(request: web.Request) -> dict[str, Any]:
    return await services(request).read_json(request)


def _client_headers(request: web.Request) -> dict[str, str]:
    return {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}


async def _forward(request: web.Request, surface: str) -> tuple[dict[str, Any], str, list[Deployment], web.StreamResponse | None]:
    """Parse the body, resolve the model, and pass the call through when its vendor speaks
    Anthropic; the response is None when the call has to be translated, for the deployments
    returned."""
    body = await _body(request)
    model = get(body, "model", str, "model", required=True)
    gateway = _gateway(request)
    # Vendors with an Anthropic-compatible endpoint (`ProviderSpec.anthropic`) get the call as
    # it is, like Claude; `native_plan` says None where it has to be translated.
    forwarded = await gateway.passthrough(request, surface, body, gateway.resolve(model, body),
                                          headers=_client_headers(request), native=native_plan)
    if isinstance(forwarded, list):
        return body, model, forwarded, None
    return body, model, [], forwarded


async def messages(request: web.Request) -> web.StreamResponse:
    body, model, deployments, forwarded = await _forward(request, MESSAGES)
    if forwarded is not None:
        return forwarded
    gateway = _gateway(request)
    chat = ingress.decode_request(body)
    if not chat.stream:
        result = await gateway.complete(chat, deployments)
        return web.Response(body=orjson.dumps(ingress.encode_response(result, model)),
                            content_type="application/json", headers=_with_request_id(result.headers))
    stream = await gateway.open_stream(chat, deployments)
    out = web.StreamResponse(headers={**SSE_HEADERS, **_with_request_id(stream.headers)})
    encoder = EventEncoder(model, estimate.input_tokens(chat))
    try:
        await out.prepare(request)
        async for events in stream:
            data = encoder.encode(events)
            if data:
                await out.write(data)  # one write per upstream read
        await out.write(encoder.end())
    except GatewayError as exc:  # defensive: the core turns stream failures into events
        await out.write(encoder.error(exc))
    finally:
        await stream.aclose()
    await out.write_eof()
    return out


COUNT_ESTIMATED = "token count estimated locally"


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """The vendor's own count where its plugin passes count_tokens through (Claude, and
    vendors with an Anthropic-compatible endpoint); otherwise the local estimate of
    `relayport_anthropic.estimate`, said so in `x-relayport-adjustments`."""
    body, _, _, forwarded = await _forward(request, COUNT_TOKENS)
    if forwarded is not None:
        return forwarded
    # The same checks as a Messages call (count_tokens takes no max_tokens).
    chat = ingress.decode_request({**body, "max_tokens": 1})
    return web.Response(body=orjson.dumps({"input_tokens": estimate.input_tokens(chat)}),
                        content_type="application/json", headers=adjustment_headers([COUNT_ESTIMATED]))


def _model_info(name: str) -> dict[str, Any]:
    # Anthropic's ModelInfo; the gateway does not know release dates, so the epoch stands in.
    return {"type": "model", "id": name, "display_name": name, "created_at": "1970-01-01T00:00:00Z"}


async def list_models(request: web.Request) -> web.Response:
    data = [_model_info(name) for name, _ in services(request).models()]
    body = {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["model"]
    services(request).gateway.resolve(name)  # 404 (in Anthropic's envelope) for an unknown model
    return web.Response(body=orjson.dumps(_model_info(name)), content_type="application/json")


def _claims(request: web.Request) -> bool:
    """`GET /v1/models` is OpenAI's too: the Anthropic SDKs always send `anthropic-version`."""
    return "anthropic-version" in request.headers


SURFACE = Surface(
    name=MESSAGES,
    routes=(
        Route("POST", "/v1/messages", messages),
        Route("POST", "/v1/messages/count_tokens", count_tokens),
        Route("GET", "/v1/models", list_models),
        Route("GET", "/v1/models/{model:.+}", get_model),
    ),
    render_error=render_error,
    claims=_claims,
)


def _with_request_id(headers: dict[str, str]) -> dict[str, str]:
    """The vendor's request id also as `request-id`, where the anthropic SDK looks for it."""
    rid = headers.get(UPSTREAM_REQUEST_ID)
    if rid and "request-id" not in headers:
        return {**headers, "request-id": rid}
    return headers
