"""relayport plugin for SenseTime SenseNova (日日新) on its OpenAI-compatible token endpoint.

What differs from OpenAI, per SenseNova's API guide (OpenSenseNova/SenseNova6.7 API.md) and
platform.sensenova.cn's parameter table:
- reasoning text comes in `message.reasoning` / `delta.reasoning` (clients get
  `reasoning_content`), and SenseNova asks that it is NOT sent back in history: it is dropped;
- the thinking switch is `reasoning_effort` (`thinking` / `enable_thinking` are refused by
  sensenova-6.7-flash-lite; a model that takes `thinking` gets `options.thinking = "thinking_type"`);
- the endpoint refuses any field outside its parameter table, usually with the uninformative
  "Errors in message queue response" (code "3"): fields OpenAI SDKs add that it does not list
  are dropped, and `response_format` goes as an instruction in the system message (announced);
  `max_tokens` above 65536 is clamped;
- streams mark open chunks with `finish_reason: ""`;
- errors are `{"error": {"message", "type", "code": "<digit>"}}`; a code-3 400 gets a hint.
"""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.openai_compat import OpenAICompat
from relayport.provider import Deployment, ProviderSpec
from relayport.vendor_errors import map_error

# OpenAI request fields SenseNova's parameter table does not list (so it refuses them).
UNLISTED = ("user", "store", "metadata", "service_tier", "logprobs", "top_logprobs", "logit_bias",
            "modalities", "prediction", "audio", "web_search_options", "verbosity", "prompt_cache_key",
            "safety_identifier", "response_format")

SENSENOVA = ProviderSpec(
    name="sensenova",
    base_url="https://token.sensenova.cn/v1",
    key_env=("SENSENOVA_API_KEY",),
    auth="bearer",
    model_patterns=("sensenova-*", "SenseNova-*"),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision"}),
    openai_compat=OpenAICompat(
        reasoning_field="reasoning",
        replay_reasoning=False,
        # A usage-only chunk ends every stream, asked for or not: dropped when not asked.
        stream_usage="always",
        finish_map={},
        json_schema=False,
        drop_fields=UNLISTED,
        max_output_tokens={"sensenova-6.7*": 65536},
    ),
    description="SenseTime SenseNova models",
)

VAGUE = "Errors in message queue response"


def map_sensenova_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    err = map_error(response, vendor)
    if err.code == "3" and VAGUE in err.message:
        err.message += (" (SenseNova refuses any request field outside its parameter table, "
                        "and parameters out of range such as max_tokens above 65536)")
    return err


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(SENSENOVA)


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_sensenova_error(response, deployment.provider.name)
