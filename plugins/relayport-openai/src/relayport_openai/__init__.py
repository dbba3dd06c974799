"""relayport plugin for OpenAI: the core's OpenAI-compatible base with OpenAI's own settings."""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.openai_compat import OpenAICompat
from relayport.provider import ProviderSpec

OPENAI = ProviderSpec(
    name="openai",
    base_url="https://api.openai.com/v1",
    key_env=("OPENAI_API_KEY",),
    auth="bearer",
    model_patterns=("gpt-*", "o1*", "o3*", "o4*", "chatgpt-*"),
    capabilities=frozenset({"chat", "stream", "tools", "vision", "audio", "files", "thinking",
                            "responses"}),
    # OpenAI takes only `reasoning_effort`; a thinking budget has no OpenAI spelling.
    # `max_completion_tokens`: the only spelling o-series and gpt-5 models take.
    openai_compat=OpenAICompat(thinking="reasoning_effort", max_tokens_field="max_completion_tokens"),
    # "responses": OpenAI serves /v1/responses itself, so Responses calls pass through.
    description="OpenAI Chat Completions and Responses",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(OPENAI)
