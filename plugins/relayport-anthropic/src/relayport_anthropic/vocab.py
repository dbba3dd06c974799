"""The Anthropic Messages API's fixed words, and how they map onto relayport's (OpenAI's) words.

Kept in one module so a vendor change (a new stop reason, a new error type) is one edit.
"""

from __future__ import annotations

import re
from typing import Final

PROVIDER: Final = "anthropic"
DEFAULT_BASE_URL: Final = "https://api.anthropic.com"
MESSAGES_PATH: Final = "/v1/messages"
COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"
# The version every Anthropic SDK sends; the API has not needed another one since 2023.
DEFAULT_VERSION: Final = "2023-06-01"

# Claude requires max_tokens; this is what a call gets when the client sent none. Every Claude
# model accepts it (the smallest cap, claude-3-haiku's, is 4096).
DEFAULT_MAX_TOKENS: Final = 4096
# The API's floor for `thinking.budget_tokens`.
MIN_THINKING_BUDGET: Final = 1024
# `reasoning_effort` -> `thinking.budget_tokens` when the model takes a budget (a gateway choice;
# override per model with the `effort_budgets` option).
EFFORT_BUDGETS: Final[dict[str, int]] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 32000,
}
# `output_config.effort` takes these; OpenAI's `minimal` has no twin, `low` is nearest.
NATIVE_EFFORTS: Final[dict[str, str]] = {
    "minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max",
}

BETA_INTERLEAVED_THINKING: Final = "interleaved-thinking-2025-05-14"
BETA_FILES: Final = "files-api-2025-04-14"
BETA_CACHE_TTL_1H: Final = "extended-cache-ttl-2025-04-11"

# stop_reason -> OpenAI finish_reason. `pause_turn` (a server-tool turn the client may resume)
# ends this call normally; `model_context_window_exceeded` is a length stop.
FINISH_REASONS: Final[dict[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# OpenAI finish_reason -> stop_reason, for answers from other vendors on the Messages surface.
STOP_REASONS: Final[dict[str, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def finish_reason(stop_reason: str | None) -> str:
    if stop_reason is None:
        return "stop"
    return FINISH_REASONS.get(stop_reason, "stop")


def stop_reason(finish: str | None) -> str:
    if finish is None:
        return "end_turn"
    return STOP_REASONS.get(finish, "end_turn")


# Anthropic error.type -> HTTP status, for errors that arrive without one (stream `error` events).
ERROR_STATUS: Final[dict[str, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
# Anthropic error types that are OpenAI error types too; the others become the status's OpenAI
# type and stay visible in `code`.
SHARED_ERROR_TYPES: Final = frozenset(
    {"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
     "rate_limit_error"}
)
# HTTP status -> Anthropic error.type, for errors rendered on the Messages surface.
ERROR_TYPE_BY_STATUS: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_TYPES: Final = frozenset(ERROR_STATUS) | {
    "conflict_error", "memory_precondition_failed_error", "memory_path_conflict_error",
}

# Content block types the Messages API takes in requests besides the ones relayport models
# (text, image, document, tool_use, tool_result, thinking, redacted_thinking). Blocks of these
# types pass through to Anthropic-format vendors untouched.
PASSTHROUGH_BLOCK_TYPES: Final = frozenset(
    {
        "document", "search_result", "server_tool_use", "web_search_tool_result",
        "web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result", "tool_search_tool_result", "container_upload",
        "mcp_tool_use", "mcp_tool_result", "tool_reference", "compaction",
    }
)
IMAGE_MEDIA_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# tool_use ids must match this; ids minted by other vendors (e.g. "functions.get:0") do not.
_TOOL_ID_OK = re.compile(r"[A-Za-z0-9_-]+")
_TOOL_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")


def tool_id(value: str) -> str:
    """A tool call id Anthropic accepts; the same input always gives the same output, so a
    tool_use and the tool_result answering it still match."""
    if _TOOL_ID_OK.fullmatch(value):
        return value
    return _TOOL_ID_BAD.sub("_", value) or "toolu_empty"


# ---------------------------------------------------------------- what each model generation takes

# `claude-<family>-<major>[-<minor>]` (Claude 4 naming) or `claude-<major>[-<minor>]-<family>`
# (Claude 3), with an optional `-YYYYMMDD` snapshot or `-latest` suffix.
_NEW_NAME = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d))?")
_OLD_NAME = re.compile(r"claude-(\d+)(?:-(\d))?-(?:opus|sonnet|haiku)")
_SUFFIX = re.compile(r"-(?:\d{8}|latest)$")


def model_version(model: str) -> tuple[int, int] | None:
    """(major, minor) of a Claude model id, None for ids that do not follow Anthropic's naming."""
    name = _SUFFIX.sub("", model)
    m = _NEW_NAME.fullmatch(name) or _OLD_NAME.fullmatch(name)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def structured_outputs(model: str) -> bool:
    """Whether `output_config.format` is taken: Claude 4.5 and later (and ids of unknown shape,
    which are assumed current)."""
    version = model_version(model)
    return version is None or version >= (4, 5)


def prefill(model: str) -> bool:
    """Whether a final assistant turn (prefill) is taken: Claude 4.6 and later refuse it, and
    ids of unknown shape are not risked."""
    version = model_version(model)
    return version is not None and version < (4, 6)
