"""A vendor's Anthropic-compatible endpoint, declared by its plugin and used by the Messages surface.

Many vendors serve Anthropic's Messages API beside their OpenAI-compatible one (DeepSeek, GLM,
Kimi, Qwen, MiniMax). When an Anthropic client calls `/v1/messages` for their models, the call
is better forwarded there as it is than translated Anthropic -> OpenAI -> vendor: nothing is
lost in translation and the stream goes back byte for byte. A plugin switches it on with one
field of its `ProviderSpec`::

    ProviderSpec(..., anthropic=AnthropicEndpoint(path="/anthropic", strip=("/v1",)))

This module is only the declaration (where the endpoint is, how it authenticates, which models
and content it takes); the Anthropic wire format itself stays in the relayport-anthropic
plugin, which serves the surface and builds the passthrough from it.

Per model, TOML `options` override the declaration: `anthropic = false` (translate instead) or
`true` (pass through even where the vendor's list of models does not name it),
`anthropic_base_url = "https://..."` (the endpoint as the Anthropic SDK's base_url, instead of
deriving it from `base_url`; it also switches the passthrough on for any provider, e.g. a vLLM
or an aggregator that serves `/v1/messages`), `anthropic_count_tokens = true|false`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from relayport.provider import Deployment

# Anthropic content blocks every compatible endpoint takes: text, tool use and thinking.
# Images, documents, search results and server-tool blocks are translated unless a vendor
# says its endpoint takes them (`blocks`).
TEXT_BLOCKS = frozenset({"text", "tool_use", "tool_result", "thinking", "redacted_thinking"})

OPTION_KEYS = frozenset({"anthropic", "anthropic_base_url", "anthropic_count_tokens"})


def option_problems(options: dict[str, Any]) -> list[str]:
    """What is wrong with a model's Anthropic-endpoint options (checked when the config loads)."""
    problems = []
    for key in ("anthropic", "anthropic_count_tokens"):
        if key in options and not isinstance(options[key], bool):
            problems.append(f"{key}: must be true or false")
    url = options.get("anthropic_base_url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        problems.append(f"anthropic_base_url: {url!r} must start with http:// or https://")
    return problems


@attrs.define(frozen=True)
class AnthropicCall:
    """What an `AnthropicEndpoint.adapt` function is told besides the body."""

    deployment: Deployment
    adjustments: list[str]


@attrs.define(frozen=True)
class AnthropicEndpoint:
    """Where and how a vendor serves Anthropic's Messages API.

    :param path: the endpoint's base path on the vendor's host, what an Anthropic SDK is given
        as base_url minus the host (DeepSeek `"/anthropic"`, GLM `"/api/anthropic"`); the
        surface appends `/v1/messages`.
    :param strip: suffixes of the configured OpenAI `base_url` removed before `path` is put on,
        longest first (DeepSeek `("/v1",)`, GLM `("/api/paas/v4", "/api/coding/paas/v4")`), so
        a proxy or mirror in `base_url` serves both formats.
    :param root: instead of `strip`: the host root for a deployment, for vendors whose hosts
        are picked some other way (DashScope's `region` option).
    :param auth: how the vendor key goes to this endpoint: "x-api-key" or "bearer" (a vendor's
        Anthropic endpoint may want another header than its OpenAI one); None: as the provider
        sends it (`ProviderSpec.auth`).
    :param default: passed through unless the model's options say `anthropic = false`; False:
        only for models whose options say `anthropic = true`.
    :param models: fnmatch patterns of vendor model ids the endpoint serves; other models are
        translated (unless their options say `anthropic = true`).
    :param blocks: content block types the endpoint takes; a call carrying another type is
        translated (the translated path knows each medium per model); None: any.
    :param ignored: fields the vendor documents as ignored on this endpoint (top-level names,
        or dotted paths such as `thinking.budget_tokens`); they go along (harmless) and are
        announced in `x-relayport-adjustments` when sent.
    :param drop: top-level fields the endpoint refuses; removed and announced.
    :param count_tokens: the vendor serves `POST .../v1/messages/count_tokens`; otherwise the
        surface's local estimate answers.
    :param accepts: False for a body the endpoint would serve worse than translation does
        (e.g. a structured-output request it ignores while the translated path downgrades it
        with a schema instruction): that call is translated.
    :param adapt: the vendor's last word on the body, just before it is encoded (clamp a
        value, add an announcement); may raise `GatewayError` (400). The body is a copy of the
        client's top level: replace top-level values rather than change nested ones in place.
    """

    path: str
    strip: tuple[str, ...] = ("/v1",)
    root: Callable[[Deployment], str] | None = None
    auth: str | None = "x-api-key"
    default: bool = True
    models: tuple[str, ...] = ("*",)
    blocks: frozenset[str] | None = TEXT_BLOCKS
    ignored: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    count_tokens: bool = False
    accepts: Callable[[dict[str, Any]], bool] | None = None
    adapt: Callable[[dict[str, Any], AnthropicCall], None] | None = None

    def __attrs_post_init__(self) -> None:
        if self.auth not in ("x-api-key", "bearer", None):
            raise ValueError(f"AnthropicEndpoint.auth must be 'x-api-key', 'bearer' or None, not {self.auth!r}")

    def base_url(self, deployment: Deployment) -> str:
        """The endpoint as an Anthropic SDK's base_url: the explicit option, or derived."""
        explicit = deployment.options.get("anthropic_base_url") if deployment.options else None
        if isinstance(explicit, str) and explicit:
            return explicit.rstrip("/")
        if self.root is not None:
            return self.root(deployment).rstrip("/") + self.path
        url = deployment.base_url.rstrip("/")
        for suffix in sorted(self.strip, key=len, reverse=True):
            if url.endswith(suffix):
                url = url[: -len(suffix)]
                break
        return url + self.path

    def serves(self, deployment: Deployment) -> bool:
        options = deployment.options
        switch = options.get("anthropic") if options else None
        if switch is not None:
            return bool(switch)
        return self.default and any(fnmatch.fnmatchcase(deployment.model, p) for p in self.models)

    def counts_tokens(self, deployment: Deployment) -> bool:
        switch = deployment.options.get("anthropic_count_tokens") if deployment.options else None
        return self.count_tokens if switch is None else bool(switch)


# A provider without a declaration whose model names an endpoint in its options: nothing is
# known of it but where it is, so the client's call goes as it is, with the provider's auth.
_CONFIGURED_ONLY = AnthropicEndpoint(path="", auth=None, default=False, blocks=None)


def endpoint_for(deployment: Deployment) -> AnthropicEndpoint | None:
    """The deployment's Anthropic endpoint when Messages calls should go there, else None."""
    declared = deployment.provider.anthropic
    if declared is not None:
        return declared if declared.serves(deployment) else None
    options = deployment.options
    if options and options.get("anthropic_base_url") and options.get("anthropic") is not False:
        return _CONFIGURED_ONLY
    return None
