"""relayport plugin for OpenAI: the core's OpenAI-compatible base with OpenAI's own settings."""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model import MediaRequest
from relayport.openai_compat import OpenAICompat
from relayport.provider import Deployment, ProviderSpec
from relayport.realtime import RealtimeEndpoint
from relayport.speech_stream import SpeechStream
from relayport.tasks.vendor_plugin import TaskHooks
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


_TASKS = TaskHooks(submit=media.submit, parse_submit=media.parse_submit, poll=media.poll,
                   parse_poll=media.parse_poll, content=media.content)
relayport_submit_task = _TASKS.relayport_submit_task
relayport_parse_submit = _TASKS.relayport_parse_submit
relayport_poll_request = _TASKS.relayport_poll_request
relayport_parse_poll = _TASKS.relayport_parse_poll
relayport_content_request = _TASKS.relayport_content_request


@hookimpl
def relayport_speech_stream(deployment: Deployment, request: MediaRequest) -> SpeechStream | None:
    return media.speech_stream(deployment, request)


@hookimpl
def relayport_realtime_endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint | None:
    return realtime.endpoint(deployment, query)
