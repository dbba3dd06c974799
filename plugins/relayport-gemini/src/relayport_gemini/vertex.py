"""Gemini on Vertex AI: the `vertex` provider.

The request and response format is the Gemini API's (`generateContent`, `streamGenerateContent`
with `alt=sse`, `countTokens`), so the rest of this package serves it unchanged. What differs:
- the URL: `https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/
  {location}/publishers/google/models/{model}:{action}` (`aiplatform.googleapis.com` for the
  `global` location), built by `relayport.gcp`;
- auth: an OAuth access token (`Authorization: Bearer`), from a service account or Application
  Default Credentials through google-auth (`pip install 'relayport-gemini[vertex]'`), or a
  plain token in the model's `api_key` / `VERTEX_ACCESS_TOKEN`; never `x-goog-api-key`;
- `labels` on the request (from `options.labels`), which only Vertex takes;
- `countTokens` takes the request's fields at the top level (no `generateContentRequest`).
Errors come in Google's envelope, as from the Gemini API (`errors.map_error`).
"""

from __future__ import annotations

from relayport import gcp
from relayport.accounts.sheet import PriceSheet
from relayport.provider import ProviderSpec
from relayport_gemini import vocab

VERTEX = ProviderSpec(
    name=vocab.VERTEX_PROVIDER,
    base_url=gcp.GLOBAL_HOST,  # the location's host unless a model's base_url says otherwise
    key_env=("VERTEX_ACCESS_TOKEN",),
    auth="bearer",
    capabilities=frozenset({"chat", "stream", "tools", "vision", "audio", "video", "files", "thinking",
                            "search", "tool:code_execution", "tool:google_search", "tool:url_context",
                            "tool:web_search"}),
    credentials=gcp.vertex_credentials,
    prices=PriceSheet("relayport_gemini"),
    description="Gemini on Google Cloud Vertex AI (service account, ADC or access token)",
)
