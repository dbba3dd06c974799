"""relayport plugin for Tencent Hunyuan (its OpenAI-compatible API, api.hunyuan.cloud.tencent.com/v1).

What differs from OpenAI (cloud.tencent.com/document/product/1729/111007 and clients that call it):
- search is `enable_enhancement` (Hunyuan's own switch, on by default for most models), with
  `citation` and `search_info` so the answer marks and lists its sources; `enable_search`
  maps onto them (true turns all three on, false turns enhancement off);
- thinking: `hunyuan-t1*` and `*-thinking*` models always think, `hunyuan-a13b` takes an
  `enable_thinking` switch; reasoning comes back in `reasoning_content`. A thinking request a
  model cannot follow is dropped and announced;
- roles must alternate (user or tool, then assistant): runs are merged (announced);
- `frequency_penalty`/`presence_penalty` are not Hunyuan's: dropped;
- streams: usage rides on the chunks (cumulative) asked for or not, finish may be `sensitive`;
  both are normalised into OpenAI's shapes on passthrough and translation alike;
- errors: OpenAI-like envelope with numeric codes (`relayport_hunyuan.errors`).

Video (`hunyuan-video`, a second provider): Tencent Cloud's VCLM API, TC3-signed with a
SecretId/SecretKey pair (`video.py`, `tc3.py`); its task hooks answer for that provider only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from relayport import hookimpl
from relayport.compat.roles import developer_as_system, merge_runs
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.openai_compat import OpenAICompat, adapt_body, compat_for, passthrough, translate_request
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport.tasks.vendor_plugin import TaskHooks
from relayport.wire.openai_chat import decode_thinking
from relayport_hunyuan import video
from relayport_hunyuan.errors import map_hunyuan_error
from relayport_hunyuan.tc3 import tc3_signer

COMPAT = OpenAICompat(
    thinking="none",          # per model, below: only some models have a switch
    stream_usage="always",    # usage on the content chunks, cumulative
    finish_map={},            # "sensitive" -> content_filter is among the base's common spellings
    fill_missing=True,
    drop_fields=("frequency_penalty", "presence_penalty"),
)

# Models with a thinking switch, and models that always think.
SWITCHABLE = ("hunyuan-a13b*",)
ALWAYS_THINKING = ("hunyuan-t1*", "*-thinking*")
# The switch is `enable_thinking` alone: no budget, no effort.
SWITCH_COMPAT = attrs.evolve(COMPAT, thinking="enable_thinking",
                             drop_fields=(*COMPAT.drop_fields, "thinking_budget", "reasoning_effort"))

HUNYUAN = ProviderSpec(
    name="hunyuan",
    base_url="https://api.hunyuan.cloud.tencent.com/v1",
    key_env=("HUNYUAN_API_KEY",),
    model_patterns=("hunyuan-*",),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision", "search"}),
    openai_compat=COMPAT,
    description="Tencent Hunyuan (OpenAI-compatible endpoint)",
)


HUNYUAN_VIDEO = ProviderSpec(
    name="hunyuan-video",
    base_url="https://vclm.tencentcloudapi.com",
    key_env=("HUNYUAN_VIDEO_KEY",),
    # "SecretId|SecretKey": every call is TC3-signed at send time, so the key itself is never sent.
    auth="none",
    model_patterns=("hunyuan-video*",),
    capabilities=frozenset({"video_generation"}),
    signer=tc3_signer("vclm"),
    description="Tencent Hunyuan video (Tencent Cloud VCLM API, TC3-signed)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(HUNYUAN_VIDEO)  # first: `hunyuan-video*` names also match the chat provider's `hunyuan-*`
    register(HUNYUAN)


# The chat provider `hunyuan` runs no tasks: these answer for `hunyuan-video` only.
_TASKS = TaskHooks(submit=video.submit, parse_submit=video.parse_submit, poll=video.poll,
                   parse_poll=video.parse_poll, provider=HUNYUAN_VIDEO.name)
relayport_submit_task = _TASKS.relayport_submit_task
relayport_parse_submit = _TASKS.relayport_parse_submit
relayport_poll_request = _TASKS.relayport_poll_request
relayport_parse_poll = _TASKS.relayport_parse_poll


def _matches(model: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(model, p) for p in patterns)


def _compat(deployment: Deployment) -> OpenAICompat:
    return compat_for(deployment, SWITCH_COMPAT if _matches(deployment.model, SWITCHABLE) else COMPAT)


def adapt(body: dict[str, Any], model: str, thinking: bool | None, search: bool | None,
          adjustments: list[str]) -> None:
    """Make an OpenAI-form body Hunyuan's, in place (both paths). The base already wrote
    `enable_thinking` for the models that have the switch and dropped it for the others."""
    if thinking is not None and not _matches(model, SWITCHABLE):
        if thinking is False and _matches(model, ALWAYS_THINKING):
            adjustments.append(f"thinking cannot be turned off for {model}")
        elif thinking and not _matches(model, ALWAYS_THINKING):
            adjustments.append(f"thinking ignored: {model} does not think")
    if search is not None and "enable_enhancement" not in body:
        body["enable_enhancement"] = search
        if search:
            body.setdefault("citation", True)
            body.setdefault("search_info", True)
    developer_as_system(body, adjustments)
    merge_runs(body, adjustments)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    compat = _compat(deployment)
    if not compat.passthrough:
        return None  # translated: the body must reach decoding as the client sent it
    wanted = decode_thinking(body)
    search = body.get("enable_search")
    adapt_body(body, deployment, compat)  # the gateway's extension fields, the base's way
    adjustments: list[str] = []
    adapt(body, deployment.model, wanted.enabled if wanted else None,
          search if isinstance(search, bool) else None, adjustments)
    plan = passthrough(deployment, compat, body)
    if plan is not None:
        plan.request.adjustments[:0] = adjustments
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    up = translate_request(deployment, _compat(deployment), request)
    body = orjson.loads(up.body or b"{}")
    adapt(body, deployment.model, request.thinking.enabled if request.thinking else None,
          request.enable_search, up.adjustments)
    up.body = orjson.dumps(body)
    return up


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    if deployment.provider.name == HUNYUAN_VIDEO.name:
        return video.map_error(response)
    return map_hunyuan_error(response, deployment.provider.name)
