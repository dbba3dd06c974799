"""relayport plugin for MiniMax (api.minimax.io; api.minimaxi.com in mainland China).

MiniMax speaks OpenAI chat with differences that byte patching cannot fix well, so every call
is translated (parsed and re-encoded), for OpenAI clients too:
- reasoning comes inside `<think>` tags in `content`, or in `reasoning_details` when asked
  with `reasoning_split` (which this plugin asks for): clients get `reasoning_content`;
- failures arrive as `base_resp.status_code` in a body sent with HTTP 200 (`errors.py`);
- a stream repeats the whole message in its last frame and may end without `[DONE]`
  (`response.py`); the client gets OpenAI's stream shape.

Media (Hailuo video with its `file_id` download step, image-01, t2a_v2 speech) lives in
`media.py`, its hooks in `media_hooks.py`.

Anthropic clients (`/v1/messages`) for M-series models go to MiniMax's Anthropic endpoint
(`{host}/anthropic`), which MiniMax recommends, untranslated. The key goes as Bearer: the
mainland host answers `x-api-key` with HTTP 500 "system error (1033)". Fields it documents as
ignored are announced (`stop_sequences` among them), and temperature is held in (0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.anthropic_endpoint import AnthropicCall, AnthropicEndpoint
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.provider import Deployment, ProviderSpec
from relayport_minimax import request as _request
from relayport_minimax.errors import business_error, vendor_code
from relayport_minimax.media_hooks import (  # noqa: F401  (hook implementations of this plugin)
    relayport_parse_poll,
    relayport_parse_submit,
    relayport_poll_request,
    relayport_speech_stream,
    relayport_submit_task,
)
from relayport_minimax.response import MiniMaxStreamParser, parse


def _anthropic_adapt(body: dict[str, Any], call: AnthropicCall) -> None:
    _request.clamp_temperature(body, call.adjustments)


_COMMON = dict(
    auth="bearer",
    anthropic=AnthropicEndpoint(
        path="/anthropic", strip=("/v1",), auth="bearer", models=("MiniMax-M*",),
        ignored=("top_k", "stop_sequences", "service_tier", "mcp_servers", "context_management", "container"),
        adapt=_anthropic_adapt,
    ),
    model_patterns=("MiniMax-*", "minimax-*", "image-01*", "speech-*", "T2V-01*", "I2V-01*", "S2V-01*"),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision", "images", "video_generation",
                            "speech"}),
)

MINIMAX = ProviderSpec(
    name="minimax", base_url="https://api.minimax.io/v1", key_env=("MINIMAX_API_KEY",),
    prices=PriceSheet(__name__),
    description="MiniMax M-series chat, Hailuo video, image-01, speech (international, api.minimax.io)", **_COMMON,  # type: ignore[arg-type]
)
# The mainland platform is a separate account system with its own keys and host.
MINIMAX_CN = ProviderSpec(
    name="minimax-cn", base_url="https://api.minimaxi.com/v1", key_env=("MINIMAX_CN_API_KEY",),
    description="MiniMax M-series chat, Hailuo video, image-01, speech (mainland China, api.minimaxi.com)", **_COMMON,  # type: ignore[arg-type]
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(MINIMAX)
    register(MINIMAX_CN)


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    return _request.build(deployment, request)


@hookimpl
def relayport_parse_response(deployment: Deployment, request: ChatRequest,
                             response: UpstreamResponse) -> ChatResponse:
    return parse(response)


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> MiniMaxStreamParser:
    return MiniMaxStreamParser()


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None  # not MiniMax's envelope: the core's reader says what it can
    code, message = vendor_code(obj)
    if code is None:
        return None
    return business_error(code, message, response.status, response.headers)
