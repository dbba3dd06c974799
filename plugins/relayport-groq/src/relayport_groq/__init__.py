"""relayport plugin for Groq (api.groq.com/openai/v1), OpenAI chat with these differences
(console.groq.com/docs/reasoning, /docs/api-reference):

- reasoning models (openai/gpt-oss-*, qwen/qwen3-*) put their reasoning in `message.reasoning`
  (deltas too) when `reasoning_format` is "parsed" or, for gpt-oss, `include_reasoning` is on
  (its default); Qwen's default is "raw" (`<think>` in the content), so we ask for "parsed"
  unless the client chose a format itself. Clients get `reasoning_content`;
- `reasoning_effort`: Qwen takes "none" | "default", gpt-oss "low" | "medium" | "high"; the
  gateway's thinking spellings are mapped per model (`relayport_groq.thinking`);
- Groq refuses `reasoning_content` on assistant history ("property 'reasoning_content' is
  unsupported"), so earlier turns' reasoning is not sent back;
- streams carry usage, with Groq's timings (queue_time, prompt_time, completion_time,
  total_time), in `x_groq.usage` of the last chunk: it becomes OpenAI's usage (the separate
  final chunk when `stream_options.include_usage` asked), timings kept;
- errors are OpenAI's envelope; 498 (flex tier over capacity) is a retryable 503 for clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.openai_compat import (
    OpenAICompat,
    OpenAIStreamParser,
    compat_for,
    passthrough,
    translate_request,
)
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport.vendor_errors import map_error
from relayport.wire import openai_chat
from relayport.wire.sse import SSEEvent
from relayport_groq.thinking import adapt

COMPAT = OpenAICompat(
    reasoning_field="reasoning",
    thinking="none",          # spelled per model by `relayport_groq.thinking`
    replay_reasoning=False,   # Groq refuses reasoning on assistant turns
    stream_usage="always",    # usage on the last content chunk (lifted out of x_groq)
)

GROQ = ProviderSpec(
    name="groq",
    base_url="https://api.groq.com/openai/v1",
    key_env=("GROQ_API_KEY",),
    model_patterns=("openai/gpt-oss-*", "qwen/qwen3-*", "llama-*", "meta-llama/*", "moonshotai/kimi-*"),
    capabilities=frozenset({"chat", "stream", "tools", "thinking"}),
    openai_compat=COMPAT,
    prices=PriceSheet(__name__),
    description="Groq (OpenAI-compatible, LPU inference)",
)


def lift_usage(obj: dict[str, Any]) -> bool:
    """Move a stream chunk's `x_groq.usage` to the top-level `usage` OpenAI clients read."""
    extra = obj.get("x_groq")
    if not isinstance(extra, dict) or not isinstance(extra.get("usage"), dict) or obj.get("usage"):
        return False
    obj["usage"] = extra.pop("usage")
    return True


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(GROQ)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    compat = compat_for(deployment, COMPAT)
    thinking = openai_chat.decode_thinking(body)
    plan = passthrough(deployment, compat, body)  # folds the gateway's fields away (into `body` too)
    if plan is None:
        return None
    adjustments: list[str] = []
    adapt(body, deployment.model, thinking, adjustments)
    plan.request.body = orjson.dumps(body)  # once per call: the plan was encoded before Groq's spelling
    plan.request.adjustments[:0] = adjustments
    if plan.patch is not None and body.get("stream"):
        fix = plan.patch

        def patch(obj: dict[str, Any]) -> bool:
            lifted = lift_usage(obj)
            return fix(obj) or lifted

        plan.patch = patch
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    up = translate_request(deployment, COMPAT, request)
    body = orjson.loads(up.body or b"{}")
    adapt(body, deployment.model, request.thinking, up.adjustments)
    up.body = orjson.dumps(body)
    return up


class GroqStreamParser(OpenAIStreamParser):
    """The base parser, with the last chunk's `x_groq.usage` read as its usage."""

    def feed(self, event: SSEEvent) -> list[Any]:
        data = event.data
        if b'"x_groq"' in data and b'"usage"' in data:  # only the last chunk: the rest pass untouched
            obj = orjson.loads(data)
            if isinstance(obj, dict) and lift_usage(obj):
                data = orjson.dumps(obj)
        return self._feed_data(data)


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> OpenAIStreamParser:
    return GroqStreamParser(compat_for(deployment, COMPAT))


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    err = map_error(response, deployment.provider.name)
    if response.status == 498:
        # Groq's flex tier is over capacity: not a status OpenAI clients know; it passes.
        err.status = 503
        err.retryable = True
        err.code = err.code or "capacity_exceeded"
    return err
