"""relayport plugin for OpenRouter, an aggregator with an OpenAI-compatible chat API.

What differs from OpenAI, per openrouter.ai/docs (reasoning tokens, provider routing, errors):
- reasoning text comes in `reasoning` (clients get `reasoning_content`), with the structured
  `reasoning_details` array next to it, which is passed on untouched (clients send it back for
  models that need their reasoning replayed);
- thinking is asked for with `reasoning: {enabled, effort | max_tokens}`: the gateway's
  `enable_thinking`, `thinking_budget` and `reasoning_effort` are written there, merged into a
  `reasoning` object the client sent itself;
- OpenRouter's own request fields (`provider` routing preferences, `models` fallbacks,
  `transforms`, `plugins`, `usage`) are passed through as the client sent them;
- errors are `{"error": {"code": <HTTP status as a number>, "message", "metadata"}}`; 402 means
  the account or key is out of credits (`metadata.limit_source` says which), which no retry
  fixes; after the stream began, an error arrives as a chunk with `error` and
  `finish_reason: "error"`, which the core turns into an error, not a clean stop;
- streams carry `: OPENROUTER PROCESSING` comments while waiting (the SSE reader skips them).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from relayport import hookimpl
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.openai_compat import OpenAICompat
from relayport.provider import Deployment, ProviderSpec
from relayport.vendor_errors import map_error

OPENROUTER = ProviderSpec(
    name="openrouter",
    base_url="https://openrouter.ai/api/v1",
    key_env=("OPENROUTER_API_KEY",),
    auth="bearer",
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "vision"}),
    openai_compat=OpenAICompat(reasoning_field="reasoning", thinking="reasoning_object"),
    description="OpenRouter (many vendors' models behind one key)",
)



def map_openrouter_error(response: UpstreamResponse, vendor: str) -> GatewayError:
    err = map_error(response, vendor)
    if err.code == str(response.status):
        err.code = None  # OpenRouter's `code` only repeats the HTTP status
    meta = _metadata(response.body)
    if err.status == 402:
        err.type, err.code = "insufficient_quota", "insufficient_credits"
    elif err.status == 403 and "flagged_input" in meta:
        # A moderation block (metadata: reasons, flagged_input, provider_name, model_slug);
        # other 403s are permissions or guardrails and keep their own wording.
        err.code = "content_filter"
        if isinstance(meta.get("reasons"), list):
            err.extra["reasons"] = [str(r) for r in meta["reasons"]]
    if isinstance(meta.get("limit_source"), str):
        err.extra["limit_source"] = meta["limit_source"]  # openrouter_credits or openrouter_key_limit
    if err.status == 402 and "retry-after" not in response.headers:
        err.retryable = False  # an empty balance does not refill by waiting
    return err


def _metadata(body: bytes) -> dict:
    try:
        err = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return {}
    meta = err.get("metadata") if isinstance(err, dict) else None
    return meta if isinstance(meta, dict) else {}


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(OPENROUTER)


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_openrouter_error(response, deployment.provider.name)
