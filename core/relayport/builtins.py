"""The core's own hook implementations: defaults every provider falls back to (all trylast)."""

from __future__ import annotations

from relayport.hookspecs import hookimpl
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import EmbeddingRequest, EmbeddingResponse, TaskRecord
from relayport.openai_compat import OpenAIStreamParser, parse_response, passthrough, translate_request
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, StreamParser
from relayport.vendor_errors import map_error
from relayport.wire import embeddings


@hookimpl(trylast=True)
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    compat = deployment.provider.openai_compat
    if compat is None or surface != OPENAI_CHAT:
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
    return parse_response(compat, response) if compat else None


@hookimpl(trylast=True)
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    compat = deployment.provider.openai_compat
    return OpenAIStreamParser(compat) if compat else None


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
