"""relayport plugin for Baidu ERNIE on Qianfan (the v2 API, `qianfan.baidubce.com/v2`).

Qianfan v2 speaks OpenAI chat with these differences (cloud.baidu.com qianfan-api docs):
- thinking is `enable_thinking` (bool) with `thinking_budget` and `reasoning_effort`
  (low/medium/high): the base's "enable_thinking" style; reasoning comes in `reasoning_content`;
- web search is the `web_search` object (`relayport_qianfan.request`), sources come back in
  `search_results`, which passthrough keeps;
- roles must alternate: consecutive user (or assistant) messages are merged (announced);
- answers carry Qianfan's safety `flag`/`ban_round` and no `logprobs`/`refusal` (filled in);
  older deployments spell a natural stop `normal` (mapped to `stop`);
- errors: `{"error": {"code", "message", "type"}, "id"}` (`relayport_qianfan.errors`).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from relayport import hookimpl
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.openai_compat import OpenAICompat, adapt_body, compat_for, passthrough, translate_request
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport_qianfan import request as qf_request
from relayport_qianfan.errors import map_qianfan_error

COMPAT = OpenAICompat(
    thinking="enable_thinking",
    effort_map={"minimal": "low", "xhigh": "high"},  # Qianfan takes low, medium, high
    finish_map={"normal": "stop"},
    fill_missing=True,
)

QIANFAN = ProviderSpec(
    name="qianfan",
    base_url="https://qianfan.baidubce.com/v2",
    key_env=("QIANFAN_API_KEY",),
    model_patterns=("ernie-*",),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "search"}),
    openai_compat=COMPAT,
    description="Baidu ERNIE and hosted models on Qianfan v2",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(QIANFAN)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    compat = compat_for(deployment, COMPAT)
    if not compat.passthrough:
        return None  # translated: the body must reach decoding as the client sent it
    search = body.get("enable_search")
    adapt_body(body, deployment, compat)  # thinking spellings, media arrays, as the base does
    adjustments: list[str] = []
    qf_request.adapt(body, search if isinstance(search, bool) else None, adjustments)
    plan = passthrough(deployment, compat, body)
    if plan is not None:
        plan.request.adjustments[:0] = adjustments
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    up = translate_request(deployment, COMPAT, request)
    body = orjson.loads(up.body or b"{}")
    qf_request.adapt(body, request.enable_search, up.adjustments)
    up.body = orjson.dumps(body)
    return up


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_qianfan_error(response, deployment.provider.name)
