"""relayport plugin for Mistral (api.mistral.ai/v1), OpenAI chat with these differences
(docs.mistral.ai: API reference, capabilities/reasoning, capabilities/guardrailing):

- reasoning models answer with `content` as a list of `thinking` and `text` chunks, in messages
  and stream deltas alike: clients get a string `content` and `reasoning_content`
  (`relayport_mistral.blocks`); earlier turns' reasoning is not sent back;
- thinking: magistral-* always reason; mistral-small-latest / mistral-medium-3.5 take
  `reasoning_effort` high|none, mistral-large-4 low|medium|high (`relayport_mistral.request`);
- `safe_prompt: true` (Mistral's guardrail system prompt) passes through from OpenAI clients and
  can be forced per model with `options.safe_prompt = true`;
- the request schema is strict (unknown fields are a 422): OpenAI-only fields clients' SDKs
  add are dropped and announced, `seed` is sent as `random_seed`; the 422's field list becomes a
  readable error with the field as `param` (`relayport_mistral.errors`);
- streams put usage on the finishing chunk whether asked or not; answers have no `logprobs` or
  `refusal`; the finish reason `model_length` means `length`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.openai_compat import (
    OpenAICompat,
    OpenAIStreamParser,
    compat_for,
    parse_response,
    passthrough,
    translate_request,
)
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport.wire import openai_chat
from relayport.wire.sse import SSEEvent
from relayport_mistral.blocks import split_choices
from relayport_mistral.errors import map_mistral_error
from relayport_mistral.request import adapt

COMPAT = OpenAICompat(
    thinking="none",            # spelled per model by `relayport_mistral.request`
    replay_reasoning=False,     # an assistant message has no reasoning_content field (422)
    stream_usage="always",      # usage on the finishing chunk
    fill_missing=True,          # no logprobs / refusal
    finish_map={"model_length": "length"},
)

MISTRAL = ProviderSpec(
    name="mistral",
    base_url="https://api.mistral.ai/v1",
    key_env=("MISTRAL_API_KEY",),
    model_patterns=("mistral-*", "magistral-*", "ministral-*", "codestral-*", "devstral-*", "pixtral-*",
                    "open-mistral-*", "open-mixtral-*"),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision"}),
    openai_compat=COMPAT,
    prices=PriceSheet(__name__),
    description="Mistral AI (La Plateforme)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(MISTRAL)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    thinking = openai_chat.decode_thinking(body)
    plan = passthrough(deployment, compat_for(deployment, COMPAT), body)  # sees stream_options first
    if plan is None:
        return None
    adjustments: list[str] = []
    adapt(body, deployment.model, thinking, deployment.options, adjustments)
    plan.request.body = orjson.dumps(body)  # once per call: Mistral's spelling after the base's
    plan.request.adjustments[:0] = adjustments
    fix = plan.patch
    assert fix is not None  # fill_missing: the base always fixes Mistral's events

    def patch(obj: dict[str, Any]) -> bool:
        split = split_choices(obj)
        return fix(obj) or split

    plan.patch = patch
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    up = translate_request(deployment, COMPAT, request)
    body = orjson.loads(up.body or b"{}")
    adapt(body, deployment.model, request.thinking, deployment.options, up.adjustments)
    up.body = orjson.dumps(body)
    return up


@hookimpl
def relayport_parse_response(deployment: Deployment, request: ChatRequest,
                             response: UpstreamResponse) -> ChatResponse:
    if b'"content":[' in response.body or b'"content": [' in response.body:
        try:
            obj = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and split_choices(obj):
            response = UpstreamResponse(response.status, response.headers, orjson.dumps(obj))
    return parse_response(compat_for(deployment, COMPAT), response)


class MistralStreamParser(OpenAIStreamParser):
    """The base parser, with chunk lists in deltas read as content and reasoning."""

    def feed(self, event: SSEEvent) -> list[Any]:
        data = event.data
        if b'"content":[' in data or b'"content": [' in data:  # only reasoning models' chunks
            obj = orjson.loads(data)
            if isinstance(obj, dict) and split_choices(obj):
                data = orjson.dumps(obj)
        return self._feed_data(data)


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> OpenAIStreamParser:
    return MistralStreamParser(compat_for(deployment, COMPAT))


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_mistral_error(response, deployment.provider.name)
