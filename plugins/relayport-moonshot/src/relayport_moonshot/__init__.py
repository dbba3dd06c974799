"""relayport plugin for Moonshot Kimi (api.moonshot.cn; api.moonshot.ai with its own keys).

Kimi speaks OpenAI chat with these differences, each handled here or by the base's options:
- thinking: kimi-k2.5 and later think unless sent `thinking: {type: disabled}`; kimi-k2-thinking*
  always think; older models never do (`relayport_moonshot.models`). Reasoning comes back in
  `reasoning_content`; a thinking turn needs it on earlier tool calls, so a placeholder fills it
  when the client dropped it. `reasoning_effort` is not Kimi's: it becomes `thinking.type`;
- streams put usage inside `choices[0].usage` of the last chunk, whatever `stream_options` said,
  and cache hits in `usage.cached_tokens`: moved to OpenAI's places on both paths;
- `enable_search` is the built-in `$web_search` tool, and turns thinking off (announced). The
  model answers with a `$web_search` tool call the client echoes back as the tool result;
- vision models take `image_url` and (k2.5+) `video_url` parts; text models want string
  content (text parts are joined); files and audio are a 400 that names them;
- partial mode: an Anthropic client's prefilled assistant turn is sent with `partial: true`
  (OpenAI clients send the flag themselves: passthrough keeps it);
- errors: `{"error": {"type", "message"}}`, mapped by type (`relayport_moonshot.errors`);
- Anthropic clients (`/v1/messages`) for kimi-k2* models go to Kimi's Anthropic endpoint
  (`{host}/anthropic`, Bearer), untranslated. That endpoint scales `temperature` by 0.6 (Kimi's
  rule, so a Claude app's 1.0 lands on Kimi's recommended 0.6): kept, and announced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.anthropic_endpoint import AnthropicCall, AnthropicEndpoint
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.openai_compat import OpenAICompat, VendorCall, passthrough
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport.webservices import WebService
from relayport_moonshot import request as kimi_request
from relayport_moonshot.errors import map_moonshot_error
from relayport_moonshot.official_tools import KIMI_TOOLS


def map_cached_tokens(usage: dict[str, Any]) -> bool:
    """Copy Kimi's top-level `usage.cached_tokens` into `prompt_tokens_details.cached_tokens`."""
    cached = usage.get("cached_tokens")
    if not isinstance(cached, int):
        return False
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict):
        details = usage["prompt_tokens_details"] = {}
    if details.get("cached_tokens") == cached:
        return False
    details["cached_tokens"] = cached
    return True


def adapt(body: dict[str, Any], call: VendorCall) -> None:
    """Kimi's own changes, on both paths (`relayport_moonshot.request`)."""
    budget = call.thinking.budget_tokens if call.thinking else None
    kimi_request.adapt(body, call.deployment.model, call.enable_search is True, budget,
                       call.deployment.options, call.adjustments)
    messages = body.get("messages")
    if call.translated and messages and messages[-1].get("role") == "assistant":
        # A prefilled last turn (Anthropic clients) is Kimi's partial mode: it continues it.
        messages[-1]["partial"] = True


COMPAT = OpenAICompat(
    adapt=adapt,
    thinking="thinking_type",
    usage_in_choices=True,   # streams: the last chunk's choices[0].usage
    fill_missing=True,       # no logprobs/refusal in Kimi's answers
    patch_usage=map_cached_tokens,
)

def _anthropic_temperature(body: dict[str, Any], call: AnthropicCall) -> None:
    if isinstance(body.get("temperature"), (int, float)):
        call.adjustments.append("temperature scaled by 0.6 at Kimi's Anthropic endpoint")


MOONSHOT = ProviderSpec(
    name="moonshot",
    base_url="https://api.moonshot.cn/v1",
    key_env=("MOONSHOT_API_KEY",),
    model_patterns=("kimi-*", "moonshot-v1-*"),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision", "video", "search"}),
    openai_compat=COMPAT,
    anthropic=AnthropicEndpoint(path="/anthropic", strip=("/v1",), auth="bearer", models=("kimi-k2*",),
                                adapt=_anthropic_temperature),
    prices=PriceSheet(__name__),
    description="Moonshot Kimi (set base_url https://api.moonshot.ai/v1 for the global platform)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(MOONSHOT)


@hookimpl
def relayport_register_services(register: Callable[[WebService], None]) -> None:
    register(KIMI_TOOLS)  # the Formula API: Kimi's official tools (`official_tools`)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT:
        return None
    plan = passthrough(deployment, COMPAT, body)
    if plan is not None and plan.patch is not None and any(
            isinstance(t, dict) and t.get("type") == "builtin_function" for t in body.get("tools") or ()):
        plan.patch = _with_function_calls(plan.patch)
    return plan


def _with_function_calls(base: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    """The base's fixer, plus: Kimi types its `$web_search` call "builtin_function", which OpenAI's
    schema (and strict clients) do not know; the call is a function call to them."""

    def patch(obj: dict[str, Any]) -> bool:
        changed = base(obj)
        for choice in obj.get("choices") or ():
            msg = (choice.get("delta") or choice.get("message")) if isinstance(choice, dict) else None
            for call in (msg.get("tool_calls") or ()) if isinstance(msg, dict) else ():
                if isinstance(call, dict) and call.get("type") == "builtin_function":
                    call["type"] = "function"
                    changed = True
        return changed

    return patch


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_moonshot_error(response, deployment.provider.name)
