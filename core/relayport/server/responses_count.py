"""`POST /v1/responses/input_tokens` for every model, answered in OpenAI's `TokenCountsResource`.

Three ways to a count, best first:

1. Vendors that serve the Responses API pass the call through (their own count, their bytes).
2. Translated vendors that can count (`relayport_count_tokens`: Claude's `count_tokens`,
   Gemini's `countTokens`) get the request translated through the canonical model, as a
   `POST /v1/responses` would be, and their count is answered.
3. Every other vendor: the local estimate of `relayport.token_estimate` (about 4 characters a
   token), said so in `x-relayport-adjustments: token count estimated locally`.

`previous_response_id` counts the stored conversation too, as the real endpoint does.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import adjustment_headers
from relayport.provider import OPENAI_RESPONSES_INPUT_TOKENS, Deployment
from relayport.responses.store import owner_of
from relayport.server.auth import owner_identity
from relayport.server.json_body import read_json_object
from relayport.server.keys import GATEWAY, RESPONSES, TASK_RUNNER
from relayport.token_estimate import input_tokens as estimate
from relayport.wire import openai_responses as codec
from relayport.wire.fields import get

COUNT_ESTIMATED = "token count estimated locally"


def token_counts(n: int) -> dict[str, Any]:
    return {"object": "response.input_tokens", "input_tokens": n}


async def _history(request: web.Request, body: dict[str, Any]) -> list[dict[str, Any]] | None:
    previous = get(body, "previous_response_id", str, "previous_response_id")
    if not previous:
        return None
    found = await request.app[RESPONSES].get(owner_of(owner_identity(request)), previous)
    if found is None:
        raise GatewayError(404, f"Response with id '{previous}' not found.", param="previous_response_id",
                           type="invalid_request_error", code="previous_response_not_found")
    return found[1] + found[0]["output"]


async def _vendor_count(request: web.Request, chat: ChatRequest,
                        deployments: list[Deployment]) -> tuple[int, list[str]]:
    """(count, what to tell the client) from the first deployment that answers, with the
    router's retries: the estimate is announced, and so is what the plugin changed to count."""
    gateway = request.app[GATEWAY]
    runner = request.app[TASK_RUNNER]

    async def attempt(dep: Deployment) -> tuple[int, list[str]]:
        # Media the vendor takes inline only is fetched as for a call: the count hook builds
        # the same body, which refuses a URL it cannot send.
        await gateway.fetch_urls(dep, chat)
        plan = dep.hooks.relayport_count_tokens(deployment=dep, request=chat)
        if plan is None:
            return estimate(chat), [COUNT_ESTIMATED]
        answer = await runner.call(dep, plan.request)
        return plan.read(answer), plan.request.adjustments

    result: tuple[int, list[str]] = await gateway.call(deployments, attempt)
    return result


async def count_input_tokens(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    body = await read_json_object(request)
    model = get(body, "model", str, "model", required=True)
    deployments = gateway.resolve(model, body)
    forwarded = await gateway.passthrough(request, OPENAI_RESPONSES_INPUT_TOKENS, body, deployments)
    if not isinstance(forwarded, list):
        return forwarded
    body["model"] = model  # a passthrough attempt that fell back may have renamed it
    if body.get("input") is None:
        body["input"] = []  # optional here: `instructions` or the previous response may be all there is
    chat = codec.decode_request(body, await _history(request, body)).chat
    chat.stream = False
    count, notes = await _vendor_count(request, chat, forwarded)
    headers = adjustment_headers(notes)
    return web.Response(body=orjson.dumps(token_counts(count)), content_type="application/json", headers=headers)
