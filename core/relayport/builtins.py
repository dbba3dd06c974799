"""The core's own hook implementations: defaults every provider falls back to (all trylast)."""

from __future__ import annotations

from collections.abc import Callable

from relayport.hookspecs import hookimpl
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
from relayport.vendor_errors import map_error

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
    if compat is None or surface != OPENAI_CHAT:
        return None
    if getattr(deployment.hooks, "owner_translates", False):
        # The provider's plugin implements passthrough or parsing itself: a None from its
        # passthrough means "translate", and its parse hooks must then run.
        return None
    return passthrough(deployment, compat, body)


@hookimpl(trylast=True)
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest | None:
    compat = deployment.provider.openai_compat
    return translate_request(deployment, compat, request) if compat else None


@hookimpl(trylast=True)
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    compat = deployment.provider.openai_compat
    return parse_response(compat_for(deployment, compat), response) if compat else None


@hookimpl(trylast=True)
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    compat = deployment.provider.openai_compat
    return OpenAIStreamParser(compat_for(deployment, compat)) if compat else None


@hookimpl(trylast=True)
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return map_error(response, deployment.provider.name)
