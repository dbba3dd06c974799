"""relayport plugin for ElevenLabs: text to speech behind OpenAI's `/v1/audio/speech`, streamed."""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model import GatewayError, MediaRequest, SubmittedTask, UpstreamRequest, UpstreamResponse
from relayport.provider import Deployment, ProviderSpec
from relayport.speech_stream import SpeechStream
from relayport_elevenlabs import speech

ELEVENLABS = ProviderSpec(
    name="elevenlabs",
    base_url="https://api.elevenlabs.io",
    key_env=("ELEVENLABS_API_KEY",),
    auth="header:xi-api-key",
    model_patterns=("eleven_*",),
    capabilities=frozenset({"speech"}),
    prices=PriceSheet(__name__),
    description="ElevenLabs text to speech (streamed)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ELEVENLABS)


@hookimpl
def relayport_speech_stream(deployment: Deployment, request: MediaRequest) -> SpeechStream | None:
    return speech.stream(deployment, request)


@hookimpl
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    return speech.whole(deployment, request)


@hookimpl
def relayport_parse_submit(deployment: Deployment, request: MediaRequest,
                           response: UpstreamResponse) -> SubmittedTask | None:
    return speech.parse_whole(request, response)


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return speech.map_error(response)
