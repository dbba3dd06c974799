"""relayport plugin for Azure OpenAI (OpenAI chat, with Azure's URLs, auth and content filters).

What differs from OpenAI, per Microsoft's Azure OpenAI docs:
- `base_url` is the resource endpoint (`https://<resource>.openai.azure.com`); a model's
  `model` is the deployment name. `options.api_version = "v1"` (the default) calls the v1 API,
  `{endpoint}/openai/v1/chat/completions` with the deployment as `model`; a dated version
  (`"2024-10-21"`) calls `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`,
  and `"preview"` the v1 API's preview channel (`?api-version=preview`);
- the key goes in an `api-key` header; with no key, a Microsoft Entra ID token is fetched with
  azure-identity (`pip install 'relayport-azure[entra]'`, `DefaultAzureCredential`, scope
  `options.entra_scope`) and sent as a bearer token, refreshed by the core before it expires;
- answers carry `prompt_filter_results` and per-choice `content_filter_results`, which ride
  along to OpenAI clients; a filtered completion ends with OpenAI's own `content_filter`;
  a stream starts with a chunk holding only the prompt's filter results, with empty `id` and
  `object`, which are filled in;
- a filtered prompt is a 400 with code `content_filter` and the filter's verdict in
  `innererror.content_filter_result`, and the envelope repeats the status as a number.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from relayport import hookimpl
from relayport.credentials import Credential
from relayport.model.chat import ChatRequest
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.openai_compat import OpenAICompat, passthrough, translate_request
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, ProviderSpec
from relayport.vendor_errors import map_error

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


def default_token_credential() -> Any:
    """The azure-identity credential used when a model has no key (tests replace this)."""
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError:
        raise GatewayError(500, "azure: no api key is set and azure-identity is not installed "
                           "(pip install 'relayport-azure[entra]')", code="upstream_credentials") from None
    return DefaultAzureCredential()


token_credential: Callable[[], Any] = default_token_credential


@attrs.define(repr=False)
class EntraToken:
    """A CredentialProvider over an azure-identity async token credential."""

    credential: Any
    scope: str

    async def fetch(self) -> Credential:
        token = await self.credential.get_token(self.scope)
        return Credential({"Authorization": "Bearer " + token.token}, expires_at=float(token.expires_on))

    async def aclose(self) -> None:
        await self.credential.close()  # azure-identity's aio credentials hold an HTTP session


def entra_for(dep: Deployment) -> EntraToken | None:
    if dep.api_key is not None:
        return None  # the api-key header (ProviderSpec.auth) does
    return EntraToken(token_credential(), str(dep.options.get("entra_scope", ENTRA_SCOPE)))


AZURE = ProviderSpec(
    name="azure",
    base_url="",  # every resource has its own endpoint: configure base_url per model
    key_env=("AZURE_OPENAI_API_KEY",),
    auth="header:api-key",
    capabilities=frozenset({"chat", "stream", "tools", "vision", "thinking"}),
    # fill_missing: Azure's first stream chunk (prompt filter results only) has "object": ""
    # and "id": "", which strict OpenAI clients and the spec refuse.
    openai_compat=OpenAICompat(thinking="reasoning_effort", max_tokens_field="max_completion_tokens",
                               fill_missing=True),
    credentials=entra_for,
    description="Azure OpenAI (deployments and v1 API; api-key or Entra ID)",
)


def chat_url(dep: Deployment) -> str:
    """Where the deployment's chat completions are: the v1 API, or the dated deployments API."""
    version = str(dep.options.get("api_version", "v1"))
    if version == "v1":
        return dep.url("/openai/v1/chat/completions")
    if version in ("preview", "latest"):  # the v1 API's preview channel
        return dep.url(f"/openai/v1/chat/completions?api-version={version}")
    name = urllib.parse.quote(dep.model, safe="")
    return dep.url(f"/openai/deployments/{name}/chat/completions?api-version={urllib.parse.quote(version)}")


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(AZURE)


@hookimpl
def relayport_passthrough(deployment: Deployment, surface: str, body: dict,
                          headers: dict[str, str]) -> Passthrough | None:
    if surface != OPENAI_CHAT or AZURE.openai_compat is None:
        return None
    plan = passthrough(deployment, AZURE.openai_compat, body)
    if plan is not None:
        plan.request.url = chat_url(deployment)
    return plan


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest | None:
    assert AZURE.openai_compat is not None
    req = translate_request(deployment, AZURE.openai_compat, request)
    req.url = chat_url(deployment)
    return req


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    err = map_error(response, "azure")
    try:
        inner = orjson.loads(response.body)["error"].get("innererror") or {}
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        return err
    if isinstance(inner, dict) and isinstance(inner.get("content_filter_result"), dict):
        # The prompt was filtered: say which categories, never a retry (the same prompt fails again).
        hits = sorted(k for k, v in inner["content_filter_result"].items()
                      if isinstance(v, dict) and (v.get("filtered") or v.get("detected")))
        err.message += f" (filtered: {', '.join(hits) or 'unspecified'})"
        err.code, err.retryable = "content_filter", False
        err.extra["content_filter_result"] = inner["content_filter_result"]
    return err
