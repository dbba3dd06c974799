"""Bedrock's words: endpoints, stop reasons, error types and their statuses."""

from __future__ import annotations

import re
from urllib.parse import quote

PROVIDER = "bedrock"
DEFAULT_REGION = "us-east-1"
DEFAULT_BASE_URL = f"https://bedrock-runtime.{DEFAULT_REGION}.amazonaws.com"
# Claude's Messages body on InvokeModel names this version instead of a model.
ANTHROPIC_VERSION = "bedrock-2023-05-31"

_REGION = re.compile(r"^https://bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/?$")


def region_of(base_url: str) -> str | None:
    """The region named by a `https://bedrock-runtime.{region}.amazonaws.com` base URL."""
    m = _REGION.match(base_url)
    return m.group(1) if m else None


def path(model: str, action: str) -> str:
    """`/model/{modelId}/{action}`; ids (`...-v1:0`, inference-profile ARNs) are one path segment.

    The colon stays literal: the HTTP client would send `%3A` decoded anyway (yarl normalises
    it), and SigV4 signs the path as it goes on the wire. A `/` (in ARNs) must be `%2F`,
    which is sent as it is.
    """
    return f"/model/{quote(model, safe=':')}/{action}"


def is_claude(model: str) -> bool:
    """Claude ids, inference profiles (`us.anthropic.claude-...`) and ARNs naming them."""
    return "anthropic.claude" in model


# Models Converse serves without system prompts (its model-features table): Mistral's 7B and
# Mixtral Instruct, Titan Text. Their system text goes at the head of the first user turn.
NO_SYSTEM = ("mistral.mistral-7b-instruct", "mistral.mixtral-8x7b-instruct", "amazon.titan-text")


def takes_system(model: str) -> bool:
    return not any(m in model for m in NO_SYSTEM)


# Converse `stopReason` -> OpenAI's finish reason.
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(raw: object) -> str:
    return FINISH.get(raw, "stop") if isinstance(raw, str) else "stop"


# Error types (the `x-amzn-ErrorType` header, an exception frame's `:exception-type`) -> status.
# In-stream exceptions are camelCase member names (`throttlingException`); compare lower-cased.
ERROR_STATUS = {
    "validationexception": 400,
    "servicequotaexceededexception": 400,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "invalidsignatureexception": 403,
    "expiredtokenexception": 403,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "modelerrorexception": 424,
    "modelstreamerrorexception": 424,
    "throttlingexception": 429,
    "modelnotreadyexception": 429,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
}
RETRYABLE = frozenset({"throttlingexception", "modelnotreadyexception", "internalserverexception",
                       "serviceunavailableexception", "modeltimeoutexception"})
