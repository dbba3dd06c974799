"""The relayport plugin contract: every hook a vendor or surface plugin can implement.

Hooks are synchronous and pure: they translate and parse data, and the core owns every
socket, timeout, retry and the task store. Per-call hooks receive the `Deployment` being
served and are dispatched only to the plugin that registered its provider (plus plugins
that register no provider, and the core's builtin defaults), so their cost does not grow
with the number of installed plugins.

Credentials that must be fetched and refreshed, and request signing, are not hooks but
`ProviderSpec.credentials` / `ProviderSpec.signer` (see `relayport.credentials`): the core
awaits the plugin's async credential provider itself.

Implement hooks in a module (or object) named by an entry point in the ``relayport`` group::

    [project.entry-points.relayport]
    myvendor = "relayport_myvendor"

and mark them with ``relayport.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from relayport.model.chat import ChatRequest, ChatResponse
    from relayport.model.errors import GatewayError
    from relayport.model.http import UpstreamRequest, UpstreamResponse
    from relayport.model.media import (
        EmbeddingRequest,
        EmbeddingResponse,
        MediaRequest,
        SubmittedTask,
        TaskRecord,
        TaskUpdate,
    )
    from relayport.model.tokens import TokenCount
    from relayport.provider import (
        Deployment,
        Passthrough,
        ProviderSpec,
        StreamParser,
        Surface,
    )
    from relayport.realtime import RealtimeEndpoint
    from relayport.speech_stream import SpeechStream
    from relayport.webservices import WebService

PROJECT = "relayport"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# registration
# -------------------------------------------------------------------------


@hookspec
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    """Register the vendors this plugin serves.

    Called once at start-up. The per-call hooks below are then dispatched to this plugin
    for deployments of the providers it registered.

    :param register: call it once per provider with a `ProviderSpec`.
    """


@hookspec
def relayport_register_surfaces(register: Callable[[Surface], None]) -> None:
    """Register ingress wire formats (routes) this plugin serves to clients.

    Called once when the app is built. A surface's handlers reach the core's services
    (routing, upstream calls, the model list) through ``relayport.services.services(request)``;
    a surface sharing a path with others (``GET /v1/models``) says which requests are its
    own with ``Surface.claims``.

    :param register: call it once per surface with a `Surface`.
    """


@hookspec
def relayport_register_services(register: Callable[[WebService], None]) -> None:
    """Register non-model services (web search APIs, a vendor's tool runner) this plugin serves.

    Called once at start-up. Each service is reached by clients at
    ``/v1/services/<name>/<path>`` with the gateway key; the core adds the vendor key, sends
    the call, returns the vendor's answer and records it (see `relayport.webservices`).

    :param register: call it once per service with a `relayport.webservices.WebService`.
    """


# -------------------------------------------------------------------------
# request translation
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relayport_passthrough(
    deployment: Deployment, surface: str, body: dict, headers: dict[str, str]
) -> Passthrough | None:
    """Forward a call in the client's own wire format, when the vendor speaks it.

    Return None to have the call translated through the canonical model instead.

    Stops at first non-None result.

    :param deployment: the deployment serving the call.
    :param surface: the client's wire format, e.g. ``"openai.chat"``.
    :param body: the client's decoded JSON body; the hook may change it (model name,
        fields the vendor does not take) and encode it into the request.
    :param headers: the client's request headers a vendor may honour (lower-cased names,
        e.g. ``anthropic-version``); gateway credentials are never included.
    """


@hookspec(firstresult=True)
def relayport_translate_request(
    deployment: Deployment, request: ChatRequest
) -> UpstreamRequest | None:
    """Build the vendor request for a canonical chat request.

    Raise `GatewayError` (status 400) for input the vendor cannot take, saying why.

    Stops at first non-None result.

    :param deployment: the deployment serving the call; ``deployment.model`` is the
        vendor's model id and ``deployment.url(path)`` joins its base URL.
    :param request: the canonical request; ``request.stream`` says whether to stream.
    """


@hookspec(firstresult=True)
def relayport_urls_to_fetch(deployment: Deployment, request: ChatRequest) -> list[str] | None:
    """Name the client URLs the gateway must download before `relayport_translate_request`.

    For vendors that take media only inline (base64) while clients send http(s) URLs. The core
    fetches each URL through `relayport.urlguard` (the `[fetch]` policy: private addresses
    refused, size cap, timeout; a refusal is a 400 for the client), once per call, and puts
    the results in ``request.fetched`` (URL -> `relayport.urlguard.Fetched`: body, content
    type) before it calls `relayport_translate_request`, which inlines them. Hooks stay
    synchronous: the download happens in the core, between the two hooks.

    Stops at first non-None result.

    :param deployment: the deployment about to serve the call.
    :param request: the canonical request; URLs already in ``request.fetched`` are not fetched again.
    """


@hookspec(firstresult=True)
def relayport_parse_response(
    deployment: Deployment, request: ChatRequest, response: UpstreamResponse
) -> ChatResponse | None:
    """Parse a successful (2xx) non-streaming vendor response into a canonical response.

    Raise `GatewayError` when the body carries an error despite its status.

    Stops at first non-None result.

    :param deployment: the deployment that served the call.
    :param request: the canonical request that was sent.
    :param response: status, headers and the raw body.
    """


@hookspec(firstresult=True)
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    """Turn a vendor error response (non-2xx) into a `GatewayError`.

    Keep the vendor's status and message; set ``retryable`` (rate limits, overload,
    transient 5xx) and ``retry_after`` when the vendor says how long to wait.

    Stops at first non-None result.

    :param deployment: the deployment that served the call.
    :param response: status, headers and the raw error body.
    """


@hookspec(firstresult=True)
def relayport_count_tokens(deployment: Deployment, request: ChatRequest) -> TokenCount | None:
    """Build the vendor call that counts a canonical request's input tokens, where the vendor can.

    Serves `POST /v1/responses/input_tokens` for translated vendors (Anthropic's
    `count_tokens`, Gemini's `countTokens`). Return None when the vendor has no count: the
    surface then answers with the local estimate of `relayport.token_estimate` and says so
    in `x-relayport-adjustments`. URLs named by `relayport_urls_to_fetch` are fetched first.

    Stops at first non-None result.

    :param deployment: the deployment serving the call.
    :param request: the canonical request whose input is counted (``max_tokens`` unset).
    """


# -------------------------------------------------------------------------
# streaming parsing
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> StreamParser | None:
    """Create the parser for one streaming response.

    The core reads the upstream body, splits it into events (or lines) as the parser's
    ``framing`` asks, feeds them to ``parser.feed`` and stops when ``parser.done``.

    Stops at first non-None result.

    :param deployment: the deployment serving the call.
    :param request: the canonical request that was sent.
    """


# -------------------------------------------------------------------------
# task polling (image, video and speech generation)
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    """Build the vendor request that starts a media generation task.

    Stops at first non-None result.

    :param deployment: the deployment serving the task.
    :param request: the canonical media request.
    """


@hookspec(firstresult=True)
def relayport_media_urls_to_fetch(deployment: Deployment, request: MediaRequest) -> list[str] | None:
    """Name the client URLs the gateway must download before `relayport_submit_task`.

    The media form of `relayport_urls_to_fetch`, for vendors that take input images only as
    bytes (Veo, Gemini image models). The core fetches each URL through `relayport.urlguard`
    (the `[fetch]` policy; a refusal is the client's 400) into ``request.fetched`` (URL ->
    `relayport.urlguard.Fetched`) for `relayport_submit_task`; the bytes are not stored with the task.

    Stops at first non-None result.

    :param deployment: the deployment about to serve the task.
    :param request: the canonical media request; URLs already in ``request.fetched`` are not fetched again.
    """


@hookspec(firstresult=True)
def relayport_parse_submit(
    deployment: Deployment, request: MediaRequest, response: UpstreamResponse
) -> SubmittedTask | None:
    """Read the vendor's answer to a submit: its task id, or a finished result for sync vendors.

    Stops at first non-None result.

    :param deployment: the deployment serving the task.
    :param request: the canonical media request that was submitted.
    :param response: the vendor's 2xx answer.
    """


@hookspec(firstresult=True)
def relayport_poll_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    """Build the request that asks the vendor how a task is doing.

    Stops at first non-None result.

    :param deployment: the deployment serving the task.
    :param task: the stored task; ``task.vendor_task_id`` is the vendor's id.
    """


@hookspec(firstresult=True)
def relayport_parse_poll(
    deployment: Deployment, task: TaskRecord, response: UpstreamResponse
) -> TaskUpdate | None:
    """Read a poll answer into the unified status (queued, running, succeeded, failed, cancelled).

    Stops at first non-None result.

    :param deployment: the deployment serving the task.
    :param task: the stored task being polled.
    :param response: the vendor's answer to the poll request.
    """


@hookspec(firstresult=True)
def relayport_cancel_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    """Build the request that cancels a vendor task, for vendors that can cancel.

    Return None when the vendor cannot: the client then gets 501 and the task runs on.
    A 2xx answer marks the task cancelled; an error answer goes through ``relayport_map_error``.

    Stops at first non-None result.

    :param deployment: the deployment serving the task.
    :param task: the stored, unfinished task.
    """


@hookspec(firstresult=True)
def relayport_content_request(deployment: Deployment, task: TaskRecord, index: int) -> UpstreamRequest | None:
    """Build the request that downloads one result of a finished task into the result store.

    The core's default is a plain GET of ``task.outputs[index].url``; implement it for vendors
    whose results need the key (OpenAI's ``/videos/{id}/content``) or another step. Outputs
    carrying ``b64`` are decoded without asking. The answer's body is stored as it streams in.

    Stops at first non-None result.

    :param deployment: the deployment that served the task.
    :param task: the succeeded task.
    :param index: which of ``task.outputs`` to fetch.
    """


@hookspec(firstresult=True)
def relayport_speech_stream(deployment: Deployment, request: MediaRequest) -> SpeechStream | None:
    """Say that this speech call streams, and how: the vendor request and its framing.

    Return a `relayport.speech_stream.SpeechStream`: ``framing="raw"`` when the vendor's body
    is the audio itself (chunked bytes), ``"sse"`` or ``"lines"`` with an ``AudioParser`` (e.g.
    ``EncodedAudio``) when it sends events carrying base64 or hex audio. The core streams the
    audio to the client as it arrives (raw bytes, or OpenAI's ``speech.audio.delta`` events
    when the client asked ``stream_format: "sse"``, see ``request.stream``). Error statuses go
    through ``relayport_map_error``. Return None to serve the call with
    ``relayport_submit_task`` as a whole answer.

    Stops at first non-None result.

    :param deployment: the deployment serving the call.
    :param request: the canonical speech request (``kind`` is ``MediaKind.SPEECH``).
    """


# -------------------------------------------------------------------------
# embeddings
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relayport_embeddings_request(deployment: Deployment, request: EmbeddingRequest) -> UpstreamRequest | None:
    """Build the vendor request for an embeddings call.

    The core's default serves providers with ``openai_compat`` (``POST /embeddings``).

    Stops at first non-None result.

    :param deployment: the deployment serving the call.
    :param request: the canonical request (``input`` as the client sent it, ``dimensions``).
    """


@hookspec(firstresult=True)
def relayport_parse_embeddings(
    deployment: Deployment, request: EmbeddingRequest, response: UpstreamResponse
) -> EmbeddingResponse | None:
    """Parse a 2xx embeddings answer into vectors in input order, with usage.

    Vectors may stay base64 strings (float32, little-endian) when the vendor sent them so;
    the surface converts to what the client asked for.

    Stops at first non-None result.

    :param deployment: the deployment that served the call.
    :param request: the canonical request.
    :param response: status, headers and the raw body.
    """


# -------------------------------------------------------------------------
# realtime sessions (speech-to-speech over WebSocket)
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relayport_realtime_endpoint(deployment: Deployment, query: dict[str, str]) -> RealtimeEndpoint | None:
    """Describe the vendor's realtime WebSocket for a session on ``GET /v1/realtime``.

    Return the URL and headers to connect with, and a fresh translator when the vendor's
    events are not OpenAI's realtime events (None: frames pass through untouched). The core
    opens both sockets, relays, pings, and ends the session; the translator only maps
    decoded events. Return None when the deployment has no realtime endpoint.

    Stops at first non-None result.

    :param deployment: the deployment serving the session (``deployment.auth_headers()``
        has the vendor key).
    :param query: the client's query parameters other than ``model`` (e.g. ``intent``);
        gateway credentials are never included.
    """


# Hooks dispatched per call to the plugin owning the deployment's provider.
PER_CALL_HOOKS: tuple[str, ...] = (
    "relayport_passthrough",
    "relayport_translate_request",
    "relayport_urls_to_fetch",
    "relayport_parse_response",
    "relayport_map_error",
    "relayport_count_tokens",
    "relayport_stream_parser",
    "relayport_submit_task",
    "relayport_media_urls_to_fetch",
    "relayport_parse_submit",
    "relayport_poll_request",
    "relayport_parse_poll",
    "relayport_cancel_request",
    "relayport_content_request",
    "relayport_speech_stream",
    "relayport_embeddings_request",
    "relayport_parse_embeddings",
    "relayport_realtime_endpoint",
)
