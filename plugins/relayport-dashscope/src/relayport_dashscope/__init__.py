"""relayport plugin for Alibaba DashScope / Model Studio (Qwen).

What differs from OpenAI (see README.md for the whole list):
- thinking is `enable_thinking` + `thinking_budget` at the top level of the body; web search is
  `enable_search` + `search_options`; qwen-mt takes `translation_options`; video comes as
  `video_url` (with `fps`) or as a frame list `{"type": "video", "video": [urls]}`: all of these
  are DashScope's own compatible-mode fields and pass through untouched;
- `stop` may be token ids (not mixed with strings in one list);
- omni, QwQ and QVQ models (and open-weight Qwen3 while thinking) only stream: a non-streaming
  call is served by streaming and joining (`joined.py`);
- a body in the native form (`input` + `parameters`) goes to the native API (`native.py`);
- one `base_url` serves both APIs, on the Beijing, international or US host (`hosts.py`);
- business error codes decide status and retries (`errors.py`);
- media: Wan video and image tasks, qwen-image, qwen-tts (`media.py`) and text-embedding
  (`embeddings.py`), whose hooks live in `media_hooks.py`.
- Anthropic clients (`/v1/messages`) for the text models Model Studio's Anthropic API lists go
  to `{host}/apps/anthropic` (`x-api-key`), untranslated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.anthropic_endpoint import AnthropicEndpoint
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
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec, StreamParser
from relayport.realtime import RealtimeEndpoint
from relayport.wire.openai_chat import decode_thinking
from relayport_dashscope import audio, code_interpreter, joined, models, native, realtime
from relayport_dashscope.errors import map_error
from relayport_dashscope.hosts import DEFAULT_BASE_URL, api_host, compat_url
from relayport_dashscope.media_hooks import (  # noqa: F401  (hook implementations of this plugin)
    relayport_cancel_request,
    relayport_embeddings_request,
    relayport_parse_poll,
    relayport_parse_submit,
    relayport_poll_request,
    relayport_speech_stream,
    relayport_submit_task,
)
from relayport_dashscope.stream import DashScopeStreamParser

# No stream-wide quirk options: compatible-mode chunks already carry what OpenAI's chunk schema
# asks for, so streams keep the core's fast path (only usage events are decoded). What its
# completions lack (`refusal`, sometimes `logprobs`) is filled by `fill_completion` instead.
COMPAT = OpenAICompat(
    thinking="enable_thinking",
    search_field="enable_search",
    native_form=native.is_native_form,
)

DASHSCOPE = ProviderSpec(
    name="dashscope",
    base_url=DEFAULT_BASE_URL,
    key_env=("DASHSCOPE_API_KEY",),
    auth="bearer",
    model_patterns=("qwen*", "qwq-*", "qvq-*", "wan*", "text-embedding-v*"),
    capabilities=frozenset({"chat", "stream", "tools", "vision", "audio", "video", "thinking", "search",
                            "images", "video_generation", "speech", "embeddings", "tool:code_interpreter"}),
    openai_compat=COMPAT,
    anthropic=AnthropicEndpoint(
        path="/apps/anthropic", root=api_host,
        models=("qwen3-max*", "qwen-max*", "qwen-plus*", "qwen3.[0-9]-plus*", "qwen-flash*", "qwen-turbo*",
                "qwen3-coder-*"),
    ),
    prices=PriceSheet(__name__),
    description="Alibaba DashScope / Model Studio: Qwen, QwQ, QVQ, Qwen-Omni, Qwen-MT; Wan video and "
                "images, qwen-image, qwen-tts, text-embedding",
)


def fill_completion(inner: Callable[[dict[str, Any]], bool] | None) -> Callable[[dict[str, Any]], bool]:
    """A passed-through completion gets the `refusal` and `logprobs` OpenAI clients expect (null)."""

    def patch(obj: dict[str, Any]) -> bool:
        changed = inner(obj) if inner is not None else False
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            if "logprobs" not in choice:
                choice["logprobs"] = None
                changed = True
            message = choice.get("message")
            if isinstance(message, dict) and "refusal" not in message:
                message["refusal"] = None
                changed = True
        return changed

    return patch


def _check_stop(body: dict[str, Any]) -> None:
    stop = body.get("stop")
    if isinstance(stop, list) and len({type(v) is int for v in stop}) > 1:
        raise GatewayError(400, "Invalid type for 'stop': expected strings or token ids, not both "
                                "in one list.", param="stop", code="invalid_type")


def _thinking_enabled(body: dict[str, Any]) -> bool | None:
    thinking = decode_thinking(body)
    return thinking.enabled if thinking is not None else None


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(DASHSCOPE)


@hookimpl
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    if surface != OPENAI_CHAT or code_interpreter.wanted(body):
        return None  # the code interpreter's calls are translated to the native API
    if native.is_native_form(body):
        return native.passthrough(deployment, body)
    _check_stop(body)
    if not body.get("stream") and joined.stream_only(deployment.model, deployment.options,
                                                     _thinking_enabled(body)):
        return None  # translated: streamed upstream and joined (see relayport_translate_request)
    dropped = None
    if not models.searches(deployment.model, deployment.options):
        dropped = models.drop_search(body, deployment.model)
    plan = passthrough(deployment, COMPAT, body)
    if plan is not None:
        plan.request.url = compat_url(deployment)
        assert plan.request.body is not None
        plan.request.body = audio.rewrite(plan.request.body)
        if dropped:
            plan.request.adjustments.append(dropped)
        if not plan.request.stream:
            plan.patch = fill_completion(plan.patch)
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    if code_interpreter.requested(request):
        return code_interpreter.build_request(deployment, request)
    up = translate_request(deployment, COMPAT, request)
    up.url = compat_url(deployment)
    assert up.body is not None
    up.body = audio.rewrite(up.body)
    enabled = request.thinking.enabled if request.thinking is not None else None
    streamed = not request.stream and joined.stream_only(deployment.model, deployment.options, enabled)
    no_search = (request.enable_search or "search_options" in request.extra) and not models.searches(
        deployment.model, deployment.options)
    if streamed or no_search:  # rare: the body is decoded once more to be changed
        assert up.body is not None
        body = orjson.loads(up.body)
        if no_search and (dropped := models.drop_search(body, deployment.model)):
            up.adjustments.append(dropped)
        if streamed:
            joined.stream_body(body)
            up.adjustments.append("streamed upstream and joined: the model only streams")
        up.body = orjson.dumps(body)
    return up


@hookimpl
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    if code_interpreter.requested(request):
        return code_interpreter.join(response, deployment.model)
    if joined.is_stream(response):
        return joined.join(response.body)
    return parse_response(compat_for(deployment, COMPAT), response)


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser:
    if code_interpreter.requested(request):
        return code_interpreter.CodeInterpreterStream()
    return DashScopeStreamParser(OpenAIStreamParser(compat_for(deployment, COMPAT), request))


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_error(response)


@hookimpl
def relayport_realtime_endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint | None:
    return realtime.endpoint(deployment, query)
