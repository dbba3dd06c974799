"""Gemini API constants and the vocabulary mappings between it and OpenAI's."""

from __future__ import annotations

PROVIDER = "gemini"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
# Gemini on Vertex AI: the same generateContent format, Google Cloud's URLs and OAuth tokens.
VERTEX_PROVIDER = "vertex"

# finishReason -> OpenAI finish_reason. STOP becomes tool_calls when the answer calls functions.
FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "LANGUAGE": "stop",
    "OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
    "NO_IMAGE": "stop",
    "IMAGE_OTHER": "stop",
}


def finish_reason(raw: str | None, called_tools: bool) -> str:
    if raw in (None, "STOP") and called_tools:
        return "tool_calls"
    return FINISH_REASONS.get(raw or "STOP", "stop")


# OpenAI finish_reason -> finishReason (the Gemini surface answering for other vendors).
FINISH_FROM_OPENAI: dict[str, str] = {
    "stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP",
    "function_call": "STOP",
}

# Google RPC status by HTTP status, for the Gemini surface's error envelope.
STATUS_BY_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

# Statuses worth trying another deployment for.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Google's documented value for a function call replayed without the signature the model gave
# it (history from another model, or a client that dropped it): validation is skipped.
SKIP_SIGNATURE = "skip_thought_signature_validator"

# reasoning_effort -> thinkingBudget on models that take budgets (Gemini 2.5).
EFFORT_BUDGETS: dict[str, int] = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
# reasoning_effort -> thinkingLevel on models that take levels (Gemini 3).
EFFORT_LEVELS: dict[str, str] = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}


def uses_levels(model: str) -> bool:
    """Gemini 3 models take `thinkingLevel` and need thought signatures replayed."""
    return model.startswith("gemini-3") or model.startswith("models/gemini-3")


def can_think(model: str) -> bool:
    """Gemini 2.0 and 1.x models reject `thinkingConfig`; later ones think."""
    name = model.removeprefix("models/")
    return not (name.startswith("gemini-1") or name.startswith("gemini-2.0"))


def must_think(model: str) -> bool:
    """Models where thinking cannot be switched off (budget 0 is refused)."""
    name = model.removeprefix("models/")
    return name.startswith("gemini-2.5-pro") or uses_levels(name)
