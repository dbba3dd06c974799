"""The core's own hook implementations: defaults every provider falls back to (all trylast)."""

from __future__ import annotations

from collections.abc import Callable

from relayport.hookspecs import hookimpl
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import EmbeddingRequest, EmbeddingResponse, TaskRecord
from relayport.openai_compat import (
    OpenAICompat,
    OpenAIStreamParser,
    compat_for,
    parse_response,
    passthrough,
    translate_request,
)
from relayport.provider import (
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    OPENAI_RESPONSES_INPUT_TOKENS,
    Deployment,
    Passthrough,
    ProviderSpec,
    StreamParser,
)
from relayport.responses.passthrough import responses_passthrough
from relayport.responses.vendor import ResponsesStreamParser, speaks_responses_only
from relayport.responses.vendor import parse_response as parse_responses_api
from relayport.responses.vendor import translate_request as translate_to_responses_api
from relayport.vendor_errors import map_error
from relayport.wire import embeddings

# Any server that speaks OpenAI chat (vLLM, SGLang, Ollama, LM Studio, an aggregator), configured
# entirely in TOML: `base_url` is required, the key optional, quirks in the model's `options`
# (see `relayport.openai_compat.OPTION_KEYS`).
OPENAI_COMPATIBLE = ProviderSpec(
    name="openai-compatible",
    base_url="",
    capabilities=frozenset({"chat", "stream", "tools", "vision", "thinking"}),
    openai_compat=OpenAICompat(),
    description="Any OpenAI-compatible chat endpoint, configured in TOML",
)


@hookimpl(trylast=True)
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(OPENAI_COMPATIBLE)


@hookimpl(trylast=True)
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    compat = deployment.provider.openai_compat
    if compat is None:
        return None
    if surface in (OPENAI_RESPONSES, OPENAI_RESPONSES_INPUT_TOKENS):
        if "responses" not in deployment.provider.capabilities:
            return None
        return responses_passthrough(deployment, body, counting=surface == OPENAI_RESPONSES_INPUT_TOKENS)
    if surface != OPENAI_CHAT or speaks_responses_only(deployment):
        return None
    if getattr(deployment.hooks, "owner_translates", False):
        # The provider's plugin implements passthrough or parsing itself: a None from its
        # passthrough means "translate", and its parse hooks must then run.
        return None
    return passthrough(deployment, compat, body)


@hookimpl(trylast=True)
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest | None:
    compat = deployment.provider.openai_compat
    if compat is not None and speaks_responses_only(deployment):
        return translate_to_responses_api(deployment, request)
    return translate_request(deployment, compat, request) if compat else None


@hookimpl(trylast=True)
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    compat = deployment.provider.openai_compat
    if compat is not None and speaks_responses_only(deployment):
        return parse_responses_api(response)
    return parse_response(compat_for(deployment, compat), response) if compat else None


@hookimpl(trylast=True)
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    compat = deployment.provider.openai_compat
    if compat is not None and speaks_responses_only(deployment):
        return ResponsesStreamParser()
    return OpenAIStreamParser(compat_for(deployment, compat), request) if compat else None


@hookimpl(trylast=True)
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return map_error(response, deployment.provider.name)


@hookimpl(trylast=True)
def relayport_content_request(deployment: Deployment, task: TaskRecord, index: int) -> UpstreamRequest | None:
    # A vendor's result URL is signed or public: no credentials go with it.
    if index >= len(task.outputs) or not task.outputs[index].url:
        return None
    return UpstreamRequest("GET", task.outputs[index].url or "")


@hookimpl(trylast=True)
def relayport_embeddings_request(deployment: Deployment, request: EmbeddingRequest) -> UpstreamRequest | None:
    return embeddings.compat_request(deployment, request) if deployment.provider.openai_compat else None


@hookimpl(trylast=True)
def relayport_parse_embeddings(
    deployment: Deployment, request: EmbeddingRequest, response: UpstreamResponse
) -> EmbeddingResponse | None:
    return embeddings.compat_parse(response) if deployment.provider.openai_compat else None
