"""relayport hook implementations for Gemini: the `gemini` provider and the Gemini API surface.

The hooks only translate (pure, synchronous); the modules beside this one hold the format.
"""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.provider import Deployment, Passthrough, ProviderSpec, StreamParser, Surface
from relayport.realtime import RealtimeEndpoint
from relayport_gemini import errors, live, media, vocab
from relayport_gemini.egress import build_request
from relayport_gemini.passthrough import SURFACES, passthrough
from relayport_gemini.response import parse_response
from relayport_gemini.stream import GeminiStreamParser

SPEC = ProviderSpec(
    name=vocab.PROVIDER,
    base_url=vocab.DEFAULT_BASE_URL,
    key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    auth="header:x-goog-api-key",
    model_patterns=("gemini-*",),
    capabilities=frozenset({"chat", "stream", "tools", "vision", "audio", "video", "files",
                            "thinking", "search"}),
    description="Google Gemini API (generateContent)",
)


def _mine(deployment: Deployment) -> bool:
    return deployment.provider.name == SPEC.name


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(SPEC)


@hookimpl
def relayport_register_surfaces(register: Callable[[Surface], None]) -> None:
    from relayport_gemini.surface import SURFACE  # aiohttp only when serving

    register(SURFACE)


@hookimpl
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    if not _mine(deployment) or surface not in SURFACES:
        return None
    return passthrough(deployment, body, surface)


@hookimpl
def relayport_urls_to_fetch(deployment: Deployment, request: ChatRequest) -> list[str] | None:
    return media.urls_to_fetch(request) if _mine(deployment) else None


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest | None:
    return build_request(deployment, request) if _mine(deployment) else None


@hookimpl
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    return parse_response(response, deployment.model) if _mine(deployment) else None


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return errors.map_error(response) if _mine(deployment) else None


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    return GeminiStreamParser(deployment.model) if _mine(deployment) else None


@hookimpl
def relayport_realtime_endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint | None:
    return live.endpoint(deployment, query) if _mine(deployment) else None
