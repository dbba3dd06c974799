"""relayport hook implementations for Gemini: the `gemini` and `vertex` (Gemini on Vertex AI)
providers, and the Gemini API surface.

The hooks only translate (pure, synchronous); the modules beside this one hold the format.
"""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import (
    EmbeddingRequest,
    EmbeddingResponse,
    MediaKind,
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskUpdate,
)
from relayport.model.tokens import TokenCount
from relayport.provider import Deployment, Passthrough, ProviderSpec, StreamParser, Surface
from relayport.realtime import RealtimeEndpoint
from relayport_gemini import embeddings, errors, generation, images, live, media, server_tools, veo, vocab
from relayport_gemini.counting import count_request
from relayport_gemini.egress import build_request
from relayport_gemini.passthrough import SURFACES, passthrough
from relayport_gemini.response import parse_response
from relayport_gemini.stream import GeminiStreamParser
from relayport_gemini.vertex import VERTEX

SPEC = ProviderSpec(
    name=vocab.PROVIDER,
    base_url=vocab.DEFAULT_BASE_URL,
    key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    auth="header:x-goog-api-key",
    model_patterns=("gemini-*", "veo-*", "imagen-*"),
    capabilities=frozenset({"chat", "stream", "tools", "vision", "audio", "video", "files",
                            "thinking", "search", "images", "video_generation", "embeddings",
                            "tool:code_execution", "tool:google_search", "tool:url_context",
                            "tool:computer_use", "tool:web_search"}),
    prices=PriceSheet("relayport_gemini"),
    description="Google Gemini API (generateContent; Veo, Imagen, image output, embeddings)",
)


def _mine(deployment: Deployment) -> bool:
    """The Gemini API provider (media, embeddings and Live are served for it only)."""
    return deployment.provider.name == SPEC.name


_CHAT = frozenset({SPEC.name, VERTEX.name})


def _chat(deployment: Deployment) -> bool:
    """Either provider: generateContent is the same format on the Gemini API and Vertex AI."""
    return deployment.provider.name in _CHAT


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(SPEC)
    register(VERTEX)


@hookimpl
def relayport_register_surfaces(register: Callable[[Surface], None]) -> None:
    from relayport_gemini.surface import SURFACE  # aiohttp only when serving

    register(SURFACE)


@hookimpl
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    if not _chat(deployment) or surface not in SURFACES:
        return None
    return passthrough(deployment, body, surface)


@hookimpl
def relayport_urls_to_fetch(deployment: Deployment, request: ChatRequest) -> list[str] | None:
    return media.urls_to_fetch(request) if _chat(deployment) else None


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest | None:
    return build_request(deployment, request) if _chat(deployment) else None


@hookimpl
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    if not _chat(deployment):
        return None
    result = parse_response(response, deployment.model)
    return server_tools.surface(result, response.body) if server_tools.requested(request) else result


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return errors.map_error(response) if _chat(deployment) else None


@hookimpl
def relayport_count_tokens(deployment: Deployment, request: ChatRequest) -> TokenCount | None:
    return count_request(deployment, request) if _mine(deployment) else None


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    if not _chat(deployment):
        return None
    parser = server_tools.ServerToolStream if server_tools.requested(request) else GeminiStreamParser
    return parser(deployment.model)


@hookimpl
def relayport_realtime_endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint | None:
    return live.endpoint(deployment, query) if _mine(deployment) else None


# ---------------------------------------------------------------- media: Veo (veo), images, embeddings


@hookimpl
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    if not _mine(deployment):
        return None
    if request.kind is MediaKind.VIDEO:
        return veo.submit(deployment, request)
    if request.kind is MediaKind.IMAGE:
        return images.submit(deployment, request)
    raise GatewayError(400, f"gemini: model '{request.model}' does not make speech here.", param="model",
                       code="unsupported_operation")


@hookimpl
def relayport_media_urls_to_fetch(deployment: Deployment, request: MediaRequest) -> list[str] | None:
    return generation.urls_to_fetch(request) if _mine(deployment) else None


@hookimpl
def relayport_parse_submit(deployment: Deployment, request: MediaRequest,
                           response: UpstreamResponse) -> SubmittedTask | None:
    if not _mine(deployment):
        return None
    if request.kind is MediaKind.VIDEO:
        return veo.parse_submit(response)
    return images.parse_submit(deployment, response)


@hookimpl
def relayport_poll_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    return veo.poll(deployment, task) if _mine(deployment) else None


@hookimpl
def relayport_parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate | None:
    return veo.parse_poll(response) if _mine(deployment) else None


@hookimpl
def relayport_content_request(deployment: Deployment, task: TaskRecord, index: int) -> UpstreamRequest | None:
    return veo.content(deployment, task, index) if _mine(deployment) else None


@hookimpl
def relayport_embeddings_request(deployment: Deployment, request: EmbeddingRequest) -> UpstreamRequest | None:
    return embeddings.build(deployment, request) if _mine(deployment) else None


@hookimpl
def relayport_parse_embeddings(deployment: Deployment, request: EmbeddingRequest,
                               response: UpstreamResponse) -> EmbeddingResponse | None:
    return embeddings.parse(deployment, request, response) if _mine(deployment) else None
