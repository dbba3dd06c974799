"""relayport plugin for ByteDance Doubao on Volcengine Ark (`https://ark.cn-beijing.volces.com/api/v3`).

Ark speaks OpenAI chat, so OpenAI clients pass through; what differs is mapped on both paths
(`body.py`, `errors.py`, `stream.py`):
- `thinking: {type: enabled | disabled | auto}` and `reasoning_effort` minimal..high;
- image (`image_url` with `detail`), video (`video_url` with `fps`) and audio (`input_audio`
  with `audio_url`) understanding; the media arrays become those parts;
- a model is a model id or an endpoint id (`ep-...`), the only form for accounts whose
  model-id access is off;
- Ark's error envelope and codes, before a stream and inside it.

Media (Seedance video tasks, Seedream images) lives in `relayport_doubao.media`; text
embeddings are the core's OpenAI-compatible default, vision embeddings `relayport_doubao.embeddings`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import EmbeddingRequest, EmbeddingResponse
from relayport.model.usage import Usage
from relayport.openai_compat import OpenAICompat, adapt_body
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport.tasks.vendor_plugin import TaskHooks
from relayport.wire import openai_chat
from relayport_doubao import embeddings, media
from relayport_doubao.body import adapt_parts, apply_thinking
from relayport_doubao.errors import envelope_error
from relayport_doubao.stream import ArkStreamParser

COMPAT = OpenAICompat(thinking="thinking_type")
# adapt_body inlines the media arrays and drops the extension fields; thinking is ours to write
# (the base knows no `auto`).
_NO_THINKING = OpenAICompat(thinking="none")

DOUBAO = ProviderSpec(
    name="doubao",
    base_url="https://ark.cn-beijing.volces.com/api/v3",
    key_env=("ARK_API_KEY",),
    auth="bearer",
    # Endpoint ids route here too: an account without model-id access calls `ep-...`.
    model_patterns=("doubao-*", "ep-*"),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision", "video", "audio",
                            "images", "video_generation", "embeddings"}),
    openai_compat=COMPAT,
    prices=PriceSheet(__name__),
    description="ByteDance Doubao (Volcengine Ark)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(DOUBAO)


def _request(deployment: Deployment, body: dict[str, Any], stream: bool,
             adjustments: list[str]) -> UpstreamRequest:
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    return UpstreamRequest("POST", deployment.url(COMPAT.chat_path), headers, orjson.dumps(body),
                           stream=stream, adjustments=adjustments)


def _no_search(asked: bool) -> list[str]:
    # Ark's chat API has no search switch (search is a separate bot/tool product there).
    return ["enable_search ignored: Ark chat has no web search"] if asked else []


def _fill_refusal(obj: dict[str, Any]) -> bool:
    changed = False
    for choice in obj.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and "refusal" not in message:
            message["refusal"] = None
            changed = True
    return changed


def _usage(obj: dict[str, Any]) -> Usage | None:
    usage = obj.get("usage")
    return openai_chat.decode_usage(usage) if isinstance(usage, dict) else None


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict[str, Any],
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    thinking = openai_chat.decode_thinking(body)
    adjustments = _no_search(bool(body.get("enable_search")))
    adapt_body(body, deployment, _NO_THINKING)
    apply_thinking(body, thinking, adjustments)
    adapt_parts(body)
    # Ark's answers are OpenAI's (its error events too): stream bytes flow untouched, usage is
    # read; a whole answer gets the `refusal` OpenAI's schema requires and Ark leaves out.
    return Passthrough(_request(deployment, body, bool(body.get("stream")), adjustments),
                       patch=_fill_refusal, usage=_usage)


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    body = openai_chat.encode_request(request, deployment.model)
    adjustments = _no_search(bool(request.enable_search))
    apply_thinking(body, request.thinking, adjustments)
    adapt_parts(body)
    return _request(deployment, body, request.stream, adjustments)


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> ArkStreamParser:
    return ArkStreamParser(COMPAT)


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    return envelope_error(obj, response.status, response.headers)


# ---------------------------------------------------------------- media (relayport_doubao.media)


_TASKS = TaskHooks(submit=media.submit, parse_submit=media.parse_submit, poll=media.poll,
                   parse_poll=media.parse_poll, cancel=media.cancel)
relayport_submit_task = _TASKS.relayport_submit_task
relayport_parse_submit = _TASKS.relayport_parse_submit
relayport_poll_request = _TASKS.relayport_poll_request
relayport_parse_poll = _TASKS.relayport_parse_poll
relayport_cancel_request = _TASKS.relayport_cancel_request


@hookimpl
def relayport_embeddings_request(deployment: Deployment, request: EmbeddingRequest) -> UpstreamRequest | None:
    return embeddings.request(deployment, request) if embeddings.is_multimodal(deployment) else None


@hookimpl
def relayport_parse_embeddings(deployment: Deployment, request: EmbeddingRequest,
                               response: UpstreamResponse) -> EmbeddingResponse | None:
    return embeddings.parse(response) if embeddings.is_multimodal(deployment) else None
