"""relayport plugin for Zhipu GLM: BigModel (open.bigmodel.cn) and Z.ai (api.z.ai).

GLM speaks OpenAI chat with these differences, each handled here or by the base's options:
- thinking is `thinking: {type: enabled|disabled}`; `reasoning_effort` is not GLM's, so it
  becomes `thinking.type` (announced); reasoning comes back in `reasoning_content`;
- web search is the `web_search` tool (`enable_search` adds it); sources come back in a
  top-level `web_search` list, which passthrough keeps;
- vision models (glm-4v, glm-4.5v, glm-4.6v, glm-5v-turbo...) take `image_url`, `video_url` and
  `file_url` parts; text models take none (a 400 that names the medium, before any call);
- `tool_stream: true` makes GLM-4.6+ stream tool-call arguments; set for streamed tool calls;
- output: chunks without `object`/`finish_reason`, usage on the last content chunk whatever
  `stream_options` said, `finish_reason: "sensitive"` for safety stops, no `logprobs`/`refusal`:
  all normalised into OpenAI's shapes on passthrough and translation alike;
- errors: business codes in the body (`relayport_zhipu.errors`); a safety block (1301) that
  arrives inside a started stream ends it with `finish_reason: "content_filter"`;
- Anthropic clients (`/v1/messages`) go to GLM's Anthropic endpoint (`/api/anthropic` on the
  same host as `/api/paas/v4`, `x-api-key`) for the text models, untranslated.

Media (CogVideoX, CogView / GLM-Image, embedding-3) lives in `relayport_zhipu.media`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.anthropic_endpoint import AnthropicEndpoint
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import EmbeddingRequest
from relayport.model.stream import Finish, StreamError, StreamEvent
from relayport.openai_compat import OpenAICompat, OpenAIStreamParser, VendorCall, compat_for, passthrough
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec, StreamParser
from relayport.tasks.vendor_plugin import TaskHooks
from relayport_zhipu import media
from relayport_zhipu import request as glm_request
from relayport_zhipu.errors import CONTENT_FILTER, map_zhipu_error


def adapt(body: dict[str, Any], call: VendorCall) -> None:
    """GLM's own changes, on both paths (`relayport_zhipu.request`)."""
    budget = call.thinking.budget_tokens if call.thinking else None
    glm_request.adapt(body, call.deployment.model, call.enable_search is True, budget,
                      call.deployment.options, call.adjustments)


COMPAT = OpenAICompat(
    adapt=adapt,
    thinking="thinking_type",
    stream_usage="always",   # usage rides on the last content chunk, asked for or not
    finish_map={},           # "sensitive" -> content_filter is among the base's common spellings
    fill_missing=True,       # no object/logprobs on chunks, no refusal on messages
)

_CAPABILITIES = frozenset({"chat", "stream", "tools", "thinking", "vision", "video", "files", "search",
                           "images", "video_generation", "embeddings"})
_PATTERNS = ("glm-*", "cogvideox*", "cogview*", "embedding-*")

# BigModel and Z.ai document it for their coding plans and Claude Code; the vision models
# (glm-4.5v, glm-5v-turbo...) are not listed there, so they stay on the OpenAI API.
ANTHROPIC = AnthropicEndpoint(
    path="/api/anthropic", strip=("/api/paas/v4", "/api/coding/paas/v4"),
    models=("glm-4.5", "glm-4.5-*", "glm-4.6", "glm-4.7", "glm-4.7-*", "glm-5", "glm-5.*", "glm-5-*"),
)

ZHIPU = ProviderSpec(
    name="zhipu",
    base_url="https://open.bigmodel.cn/api/paas/v4",
    key_env=("ZHIPUAI_API_KEY", "ZHIPU_API_KEY"),
    model_patterns=_PATTERNS,
    capabilities=_CAPABILITIES,
    openai_compat=COMPAT,
    anthropic=ANTHROPIC,
    description="Zhipu GLM on BigModel (mainland China)",
)

ZAI = ProviderSpec(
    name="zai",
    base_url="https://api.z.ai/api/paas/v4",
    key_env=("ZAI_API_KEY",),
    model_patterns=_PATTERNS,
    capabilities=_CAPABILITIES,
    openai_compat=COMPAT,
    anthropic=ANTHROPIC,
    prices=PriceSheet(__name__),
    description="Zhipu GLM on Z.ai (international)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ZHIPU)
    register(ZAI)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    plan = passthrough(deployment, COMPAT, body)
    if plan is not None and plan.request.stream and plan.patch is not None:
        plan.patch = _stream_patch(plan.patch, deployment.model)
    return plan


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser:
    return GLMStreamParser(compat_for(deployment, COMPAT))


class GLMStreamParser(OpenAIStreamParser):
    """The base parser; a safety block (1301) arriving as an error event ends the stream
    with a `content_filter` finish, as passthrough does, instead of failing it."""

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        out = super().feed_sse(data)
        if out and isinstance(out[-1], StreamError) and out[-1].error.code == CONTENT_FILTER:
            out[-1] = Finish("content_filter", raw=CONTENT_FILTER)
        return out


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_zhipu_error(response, deployment.provider.name)


def _stream_patch(base: Callable[[dict[str, Any]], bool], model: str) -> Callable[[dict[str, Any]], bool]:
    """The base's chunk fixer, plus GLM's chunk gaps: a missing `finish_reason` (OpenAI's
    schema requires the key) and a safety block sent as an error event after output began."""

    def patch(obj: dict[str, Any]) -> bool:
        err = obj.get("error")
        if isinstance(err, dict) and str(err.get("code")) == CONTENT_FILTER:
            obj.clear()
            obj.update({"model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}]})
            base(obj)
            return True
        changed = base(obj)
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict) and "finish_reason" not in choice:
                choice["finish_reason"] = None
                changed = True
        return changed

    return patch


# ---------------------------------------------------------------- media (relayport_zhipu.media)


_TASKS = TaskHooks(submit=media.submit, parse_submit=media.parse_submit, poll=media.poll,
                   parse_poll=media.parse_poll)
relayport_submit_task = _TASKS.relayport_submit_task
relayport_parse_submit = _TASKS.relayport_parse_submit
relayport_poll_request = _TASKS.relayport_poll_request
relayport_parse_poll = _TASKS.relayport_parse_poll


@hookimpl
def relayport_embeddings_request(deployment: Deployment, request: EmbeddingRequest) -> UpstreamRequest:
    return media.embeddings_request(deployment, request)
