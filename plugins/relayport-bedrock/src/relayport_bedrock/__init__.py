"""relayport-bedrock: Amazon Bedrock (Converse and ConverseStream for every model family;
Claude's own Messages API on InvokeModel for Anthropic clients).

Authentication: a Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`, or the model's `api_key`) is
sent as a Bearer token; without one, requests are signed with SigV4 using the AWS credentials
botocore finds (environment, `options.profile`, SSO, container and instance roles). The region
is the base URL's (`https://bedrock-runtime.{region}.amazonaws.com`), else `options.region`.
"""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.credentials import OutgoingRequest
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.provider import Deployment, Passthrough, ProviderSpec, StreamParser
from relayport.sigv4 import BotocoreCredentials, sigv4_signer
from relayport_bedrock import claude, converse, errors, vocab
from relayport_bedrock.response import parse_response
from relayport_bedrock.stream import ConverseStreamParser

_SIGV4 = sigv4_signer("bedrock", vocab.DEFAULT_REGION)


def _credentials(dep: Deployment) -> BotocoreCredentials | None:
    if dep.api_key:  # a Bedrock API key: a Bearer token, nothing to sign
        return None
    opts = dep.options
    return BotocoreCredentials(opts.get("profile"), opts.get("region") or vocab.region_of(dep.base_url))


def _sign(dep: Deployment, req: OutgoingRequest) -> None:
    if req.credential is not None:
        _SIGV4(dep, req)


SPEC = ProviderSpec(
    name=vocab.PROVIDER,
    base_url=vocab.DEFAULT_BASE_URL,
    key_env=("AWS_BEARER_TOKEN_BEDROCK",),
    auth="bearer",
    model_patterns=("anthropic.claude-*", "*.anthropic.claude-*", "meta.llama*", "*.meta.llama*",
                    "amazon.nova-*", "*.amazon.nova-*", "mistral.*", "*.mistral.*"),
    capabilities=frozenset({"chat", "stream", "tools", "vision", "files", "thinking"}),
    credentials=_credentials,
    signer=_sign,
    description="Amazon Bedrock (Converse, ConverseStream; Claude's Messages API on InvokeModel)",
    prices=PriceSheet(__name__),
)


def _mine(deployment: Deployment) -> bool:
    return deployment.provider.name == SPEC.name


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(SPEC)


@hookimpl
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    # Anthropic clients calling Claude get Claude's own API; everything else is translated.
    if _mine(deployment) and surface == claude.MESSAGES and vocab.is_claude(deployment.model):
        return claude.passthrough(deployment, body, headers)
    return None


@hookimpl
def relayport_urls_to_fetch(deployment: Deployment, request: ChatRequest) -> list[str] | None:
    return converse.urls_to_fetch(request) if _mine(deployment) else None


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest | None:
    return converse.build_request(deployment, request) if _mine(deployment) else None


@hookimpl
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    return parse_response(response, request.model) if _mine(deployment) else None


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return errors.map_error(response) if _mine(deployment) else None


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    return ConverseStreamParser(request.model) if _mine(deployment) else None
