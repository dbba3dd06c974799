"""Which vendor refusals have their own fallback lists: context window and content policy.

Neither is retryable (the same prompt fails the same way on the same model), but another
model may take it: one with a larger window, or another vendor's policy. Vendors say so in
their own words; a plugin that knows its vendor better sets `GatewayError.code` to
`context_length_exceeded` or `content_policy_violation` in its error mapping, and this module
only guesses for the errors nobody classified.
"""

from __future__ import annotations

from relayport.model.errors import GatewayError

CONTEXT_WINDOW = "context_window"
CONTENT_POLICY = "content_policy"

_CODES = {
    # OpenAI and most OpenAI-compatible vendors
    "context_length_exceeded": CONTEXT_WINDOW,
    "model_context_window_exceeded": CONTEXT_WINDOW,
    "1261": CONTEXT_WINDOW,  # Zhipu: prompt too long
    "content_policy_violation": CONTENT_POLICY,  # OpenAI
    "content_filter": CONTENT_POLICY,  # Azure OpenAI, Moonshot
    "data_inspection_failed": CONTENT_POLICY,  # DashScope compatible mode
    "datainspectionfailed": CONTENT_POLICY,  # DashScope native
    "responsibleaipolicyviolation": CONTENT_POLICY,  # Azure's inner error
    "1301": CONTENT_POLICY,  # Zhipu: unsafe content
}

# Lower-case phrases of the messages vendors send without a code of their own.
_CONTEXT_PHRASES = (
    "maximum context length",  # OpenAI, DeepSeek, vLLM
    "context length",
    "context window",
    "prompt is too long",  # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    "input is too long",
    "exceeds the maximum number of tokens",  # Gemini: "The input token count ... exceeds ..."
    "range of input length",  # DashScope: "Range of input length should be [1, 30720]"
)
_POLICY_PHRASES = (
    "content management policy",  # Azure
    "content policy",
    "content filter",
    "inappropriate content",  # DashScope
    "safety system",
)


def fallback_kind(exc: GatewayError) -> str | None:
    """CONTEXT_WINDOW, CONTENT_POLICY or None for a failed call's error."""
    if exc.retryable or exc.status >= 500:
        return None
    code = (exc.code or "").lower()
    if code in _CODES:
        return _CODES[code]
    if exc.status not in (400, 403, 413, 422):
        return None
    text = exc.message.lower()
    if any(p in text for p in _CONTEXT_PHRASES):
        return CONTEXT_WINDOW
    if any(p in text for p in _POLICY_PHRASES):
        return CONTENT_POLICY
    return None
