"""A vendor's own input-token count: the request that asks for it and how to read the answer."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from relayport.model.http import UpstreamRequest, UpstreamResponse


@attrs.define
class TokenCount:
    """What `relayport_count_tokens` returns.

    :param request: the vendor call that counts (Anthropic's `/v1/messages/count_tokens`,
        Gemini's `:countTokens`); the core sends it with the router's retries and fallbacks.
    :param read: the vendor's 2xx answer -> the input token count; raises `GatewayError` (502)
        when the answer has no count.
    """

    request: UpstreamRequest
    read: Callable[[UpstreamResponse], int]
