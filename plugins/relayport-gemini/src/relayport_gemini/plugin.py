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
from relayport_gemini import errors, media, server_tools, vocab
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
                            "thinking", "search", "tool:code_execution", "tool:google_search",
                            "tool:url_context", "tool:computer_use", "tool:web_search"}),
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
    if not _mine(deployment):
        return None
    result = parse_response(response, deployment.model)
    return server_tools.surface(result, response.body) if server_tools.requested(request) else result


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return errors.map_error(response) if _mine(deployment) else None


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    if not _mine(deployment):
        return None
    parser = server_tools.ServerToolStream if server_tools.requested(request) else GeminiStreamParser
    return parser(deployment.model)
