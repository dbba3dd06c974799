"""relayport hook implementations for Anthropic: the `anthropic` and `vertex-anthropic` (Claude on
Vertex AI) providers, and the Messages surface.

The hooks only translate (pure, synchronous); the modules beside this one hold the formats.
"""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.tokens import TokenCount
from relayport.provider import Deployment, Passthrough, ProviderSpec, StreamParser, Surface
from relayport_anthropic import counting, errors, jsonmode, replay, server_tools, vertex, vocab
from relayport_anthropic.egress import build_request
from relayport_anthropic.passthrough import COUNT_TOKENS, MESSAGES, passthrough
from relayport_anthropic.response import parse_response
from relayport_anthropic.server_tools import ServerToolStream
from relayport_anthropic.stream import AnthropicStreamParser

SPEC = ProviderSpec(
    name=vocab.PROVIDER,
    base_url=vocab.DEFAULT_BASE_URL,
    key_env=("ANTHROPIC_API_KEY",),
    auth="x-api-key",
    model_patterns=("claude-*",),
    capabilities=frozenset({"chat", "stream", "tools", "vision", "files", "thinking", "search",
                            "tool:code_execution", "tool:web_search", "tool:web_fetch"}),
    description="Anthropic Messages API (Claude)",
    prices=PriceSheet("relayport_anthropic"),
)


_MINE = frozenset({SPEC.name, vertex.PROVIDER})


def _mine(deployment: Deployment) -> bool:
    # The core dispatches per-call hooks to the plugin owning the provider; checking anyway
    # keeps this plugin from answering for another vendor if it is ever called more widely.
    return deployment.provider.name in _MINE


def _vertex(deployment: Deployment) -> bool:
    return deployment.provider.name == vertex.PROVIDER


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(SPEC)
    register(vertex.VERTEX)


@hookimpl
def relayport_register_surfaces(register: Callable[[Surface], None]) -> None:
    from relayport_anthropic.surface import SURFACE  # aiohttp only when serving

    register(SURFACE)


@hookimpl
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    if not _mine(deployment) or surface not in (MESSAGES, COUNT_TOKENS):
        return None
    # Thinking Claude cannot verify (another vendor's turn, the gateway's unsigned blocks)
    # would get the whole call refused.
    adjustments = replay.drop_unverifiable(body)
    if _vertex(deployment):
        plan = vertex.passthrough(deployment, body, headers, surface)
    else:
        plan = passthrough(deployment, body, headers, surface)
    plan.request.adjustments.extend(adjustments)
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest | None:
    if not _mine(deployment):
        return None
    return vertex.build_request(deployment, request) if _vertex(deployment) else build_request(deployment, request)


@hookimpl
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    if not _mine(deployment):
        return None
    result = parse_response(response, jsonmode.prefill_of(request, deployment.model, deployment.options))
    return server_tools.surface(result, response.body) if server_tools.requested(request) else result


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    if not _mine(deployment):
        return None
    return vertex.map_error(response) if _vertex(deployment) else errors.map_error(response)


@hookimpl
def relayport_count_tokens(deployment: Deployment, request: ChatRequest) -> TokenCount | None:
    if not _mine(deployment):
        return None
    return vertex.count_request(deployment, request) if _vertex(deployment) else counting.count_request(deployment, request)


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    if not _mine(deployment):
        return None
    parser = ServerToolStream if server_tools.requested(request) else AnthropicStreamParser
    return parser(jsonmode.prefill_of(request, deployment.model, deployment.options))
