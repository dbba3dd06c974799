"""relayport plugin for OpenAI: the core's OpenAI-compatible base with OpenAI's own settings."""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model import (
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.openai_compat import OpenAICompat
from relayport.provider import Deployment, ProviderSpec
from relayport.realtime import RealtimeEndpoint
from relayport.speech_stream import SpeechStream
from relayport_openai import media, realtime

OPENAI = ProviderSpec(
    name="openai",
    base_url="https://api.openai.com/v1",
    key_env=("OPENAI_API_KEY",),
    auth="bearer",
    model_patterns=("gpt-*", "o1*", "o3*", "o4*", "chatgpt-*", "dall-e-*", "sora-*", "tts-*",
                    "text-embedding-*"),
    capabilities=frozenset({"chat", "stream", "tools", "vision", "audio", "files", "thinking", "responses",
                            "images", "video_generation", "speech", "embeddings"}),
    # OpenAI takes only `reasoning_effort`; a thinking budget has no OpenAI spelling.
    # `max_completion_tokens`: the only spelling o-series and gpt-5 models take.
    openai_compat=OpenAICompat(thinking="reasoning_effort", max_tokens_field="max_completion_tokens"),
    # "responses": OpenAI serves /v1/responses itself, so Responses calls pass through.
    prices=PriceSheet(__name__),
    description="OpenAI Chat Completions, Responses, images, videos, speech, embeddings",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(OPENAI)


@hookimpl
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    return media.submit(deployment, request)


@hookimpl
def relayport_speech_stream(deployment: Deployment, request: MediaRequest) -> SpeechStream | None:
    return media.speech_stream(deployment, request)


@hookimpl
def relayport_parse_submit(deployment: Deployment, request: MediaRequest,
                           response: UpstreamResponse) -> SubmittedTask | None:
    return media.parse_submit(request, response)


@hookimpl
def relayport_poll_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    return media.poll(deployment, task)


@hookimpl
def relayport_parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate | None:
    return media.video_update(media.load_object(response))


@hookimpl
def relayport_content_request(deployment: Deployment, task: TaskRecord, index: int) -> UpstreamRequest | None:
    return media.content(deployment, task, index)


@hookimpl
def relayport_realtime_endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint | None:
    return realtime.endpoint(deployment, query)
