"""relayport plugin for xAI Grok (api.x.ai/v1), OpenAI chat with these differences
(docs.x.ai: models, reasoning, image understanding, tools; reports of its errors):

- only grok-3-mini takes `reasoning_effort` (low|high) and returns `reasoning_content`; the
  other models refuse the parameter, so it is dropped and announced; reasoning models also refuse
  `presence_penalty`, `frequency_penalty` and `stop` (dropped, announced);
- usage: `completion_tokens` leaves out the reasoning tokens that `total_tokens` counts; they are
  added back so `completion_tokens` means what it means at OpenAI (`relayport_xai.usage`);
- Live Search (`search_parameters`) is retired: xAI answers 410. The gateway says so before
  spending a call; `enable_search` is ignored and announced. Search runs as the `web_search` /
  `x_search` tools of xAI's Responses API, which `/v1/responses` passes through (capability
  `responses`);
- images as `image_url` parts (URL or base64), JPEG/PNG only, on vision models (grok-4*,
  grok-2-vision*; `options.vision` per model); other media are a 400 that names the part;
- errors are `{"code": "<sentence>", "error": "<message>"}`; a wrong key comes as a 400
  ("Incorrect API key provided"), which clients get as the 401 it is; spent credits (403) are
  `insufficient_quota`.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.openai_compat import OpenAICompat, compat_for, passthrough, translate_request
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport.vendor_errors import map_error
from relayport.wire import openai_chat
from relayport_xai.request import adapt
from relayport_xai.usage import count_reasoning

COMPAT = OpenAICompat(
    thinking="none",           # spelled per model by `relayport_xai.request`
    replay_reasoning=False,    # Grok's chat API keeps no reasoning across turns
    patch_usage=count_reasoning,
)

XAI = ProviderSpec(
    name="xai",
    base_url="https://api.x.ai/v1",
    key_env=("XAI_API_KEY",),
    model_patterns=("grok-*",),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision", "responses"}),
    openai_compat=COMPAT,
    description="xAI Grok",
    prices=PriceSheet(__name__),
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(XAI)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    thinking = openai_chat.decode_thinking(body)
    search = body.get("enable_search")
    plan = passthrough(deployment, compat_for(deployment, COMPAT), body)
    if plan is None:
        return None
    adjustments: list[str] = []
    adapt(body, deployment.model, thinking, search is True, deployment.options, adjustments)
    plan.request.body = orjson.dumps(body)  # once per call: Grok's spelling after the base's
    plan.request.adjustments[:0] = adjustments
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    up = translate_request(deployment, COMPAT, request)
    body = orjson.loads(up.body or b"{}")
    adapt(body, deployment.model, request.thinking, request.enable_search, deployment.options, up.adjustments)
    up.body = orjson.dumps(body)
    return up


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    err = map_error(response, deployment.provider.name)
    lowered = err.message.lower()
    if response.status == 400 and "api key" in lowered:
        err.status, err.type, err.code = 401, "authentication_error", "invalid_api_key"
    elif response.status == 403 and "credits" in lowered:
        err.type, err.code, err.retryable = "insufficient_quota", "insufficient_quota", False
    return err
