"""What a vendor plugin registers and what the core hands back to it on every call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import orjson

from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest
from relayport.model.stream import StreamEvent
from relayport.model.usage import Usage
from relayport.secrets import Secret

if TYPE_CHECKING:
    from aiohttp import web

    from relayport.accounts.sheet import PriceSheet
    from relayport.anthropic_endpoint import AnthropicEndpoint
    from relayport.credentials import CredentialFactory, Signer
    from relayport.openai_compat import OpenAICompat
    from relayport.wire.sse import SSEEvent
    from relayport.wire.transcode import Transcoder

# Wire formats a surface speaks and a vendor may speak natively (then calls pass through).
OPENAI_CHAT = "openai.chat"
OPENAI_RESPONSES = "openai.responses"
OPENAI_RESPONSES_INPUT_TOKENS = "openai.responses.input_tokens"
ANTHROPIC_MESSAGES = "anthropic.messages"
GEMINI_GENERATE = "gemini.generate"


@attrs.define(frozen=True)
class ProviderSpec:
    """A vendor a plugin serves.

    :param name: the provider name used in config (`provider = "deepseek"`) and in
        `provider/model` addressing.
    :param base_url: the default base URL, meaning what the vendor's official SDK means by it.
    :param key_env: environment variables tried, in order, for the vendor key.
    :param auth: how the key is sent: "bearer", "x-api-key", "header:<Name>", or "none".
    :param model_patterns: fnmatch patterns of model names routed here when no config names
        them and the key is set (e.g. "deepseek-*").
    :param capabilities: what it can do: chat, stream, tools, vision, audio, video, thinking,
        images, video_generation, speech, embeddings, search (the vendor can search the web
        when `enable_search` is asked), responses (an OpenAI-compatible vendor that serves
        `POST {base_url}/responses` itself: Responses calls then pass through).
    :param openai_compat: set for vendors that speak OpenAI chat; the core's builtin hooks
        then translate, parse and pass through for it, configured by this object.
    :param credentials: for credentials that are fetched and expire (OAuth, Entra ID): called
        once per deployment, returns a `relayport.credentials.CredentialProvider` (or None to
        use the static key); the core caches its credential, refreshes it before expiry and
        once after a vendor 401. See `relayport.credentials`.
    :param signer: signs every request after translation, over its final method, URL,
        headers and body (AWS SigV4); adds headers in place.
    :param anthropic: the vendor also serves Anthropic's Messages API there: Anthropic
        clients' `/v1/messages` calls for its models pass through to it instead of being
        translated (see `relayport.anthropic_endpoint`).
    :param prices: the vendor's list prices per model id, shipped with the plugin
        (`relayport.accounts.sheet.PriceSheet(__name__)` reads `prices.toml` beside the
        module on first use); `[[models]] price` in the config overrides them.
    """

    name: str
    base_url: str
    key_env: tuple[str, ...] = ()
    auth: str = "bearer"
    model_patterns: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset({"chat", "stream"})
    openai_compat: OpenAICompat | None = None
    description: str = ""
    credentials: CredentialFactory | None = None
    signer: Signer | None = None
    anthropic: AnthropicEndpoint | None = None
    prices: PriceSheet | None = None


@attrs.define(frozen=True)
class Timeouts:
    """Seconds. Defaults suit long reasoning calls: a model may think for minutes before its first byte."""

    connect: float = 10.0
    first_byte: float = 600.0
    idle: float = 300.0
    total: float = 1800.0


@attrs.define(eq=False)
class Deployment:
    """One way to serve a model name: a provider, the vendor's model id, a key and a base URL.

    `hooks` is the provider's own hook relay (its plugin plus global plugins and builtins),
    resolved once at start-up so dispatch cost does not grow with the number of plugins.
    """

    name: str
    provider: ProviderSpec
    model: str
    base_url: str
    api_key: Secret | None
    hooks: Any
    proxy: str | None = None
    timeouts: Timeouts = Timeouts()
    options: Mapping[str, Any] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    # The CredentialCache (or a marker for "none") `relayport.credentials.cache_for` made.
    credential_state: Any = attrs.field(default=None, init=False)

    def url(self, path: str) -> str:
        """Join the base URL and a path without doubling slashes."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def auth_headers(self, auth: str | None = None) -> dict[str, str]:
        """The vendor key in the header the provider uses (or `auth`, for a vendor endpoint
        that wants it elsewhere), plus configured extra headers."""
        headers = dict(self.headers)
        key = self.api_key.reveal() if self.api_key else ""
        auth = auth or self.provider.auth
        if key and auth == "bearer":
            headers["Authorization"] = "Bearer " + key
        elif key and auth == "x-api-key":
            headers["x-api-key"] = key
        elif key and auth.startswith("header:"):
            headers[auth[7:]] = key
        return headers

    def __repr__(self) -> str:  # never show the key
        return f"Deployment({self.name!r} -> {self.provider.name}/{self.model})"


@attrs.define
class Passthrough:
    """A call forwarded in the client's own wire format, with only the changes it needs.

    :param request: the upstream request (body already rewritten: model, auth).
    :param patch: called with the decoded JSON body (non-stream) or with each stream event whose
        bytes contain `marker`; may fix fields in place and returns True when it changed anything
        (the core then re-encodes that body or event, and forwards the rest untouched). A stream
        event whose object the patch emptied (`obj.clear()`) is dropped.
    :param usage: reads usage from the same objects, for accounting.
    :param marker: bytes that must appear in a stream event for it to be decoded at all.
    :param stream_error: the bytes that end a stream the vendor broke off (timeout, dropped
        connection), in the client's wire format; OpenAI's error event by default.
    :param tail: called after `patch` with each patched stream event; a dict it returns is
        sent as one more event right after that one (e.g. OpenAI's separate usage chunk).
    :param unavailable: called with the vendor's error status (>= 300) before it is read;
        True means the endpoint is not there (a proxy in `base_url` without it): this call,
        and the fallbacks after it, are translated instead of failing.
    :param transcode: for a vendor that streams the client's events in another framing
        (Bedrock: Anthropic events in binary eventstream frames): makes a fresh
        `relayport.wire.transcode.Transcoder` per stream, which turns the vendor's reads into
        the client's SSE bytes before they are piped as above.
    """

    request: UpstreamRequest
    patch: Callable[[dict[str, Any]], bool] | None = None
    usage: Callable[[dict[str, Any]], Usage | None] | None = None
    marker: bytes = b'"usage"'
    stream_error: Callable[[GatewayError], bytes] = attrs.field(factory=lambda: openai_error_event)
    tail: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    unavailable: Callable[[int], bool] | None = None
    transcode: Callable[[], Transcoder] | None = None


def openai_error_event(err: GatewayError) -> bytes:
    """An error after an OpenAI stream started: the OpenAI SDKs raise on a chunk with `error`."""
    return b"data: " + orjson.dumps(err.envelope()) + b"\n\n"


class StreamParser(Protocol):
    """Turns one upstream stream into canonical events; one instance per stream.

    The core feeds it every SSE event (framing "sse"), or every line (framing "lines", for
    vendors that stream JSON lines) as an `SSEEvent` with only `data` set, or every read as
    it arrived (framing "bytes", for binary streams such as AWS eventstream: `data` is the
    read's raw bytes, frames may be cut anywhere; `relayport.wire.eventstream` decodes them).
    """

    framing: str

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Events for one upstream event; for a vendor error event, raise `GatewayError` (or
        return a `StreamError` last): the core sends what came before it, then the error."""
        ...

    # Optional fast path for "sse" parsers: `feed_sse(data: bytes) -> list[StreamEvent]`
    # takes every whole event of one upstream read at once, as bytes with LF line ends ending
    # in a blank line (stopping at the one that completes the stream). The core then builds no
    # event objects and makes one call per read instead of one per event;
    # `relayport.wire.sse.payloads(data)` gives each event's `data` when that is all you need.

    def close(self) -> list[StreamEvent]:
        """The upstream ended; return trailing events, or raise when it ended too early."""
        ...

    @property
    def done(self) -> bool:
        """True once the vendor said the stream is complete (the core stops reading)."""
        ...


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


@attrs.define(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler


@attrs.define(frozen=True)
class Surface:
    """An ingress wire format: its routes and how its errors look to its clients.

    :param render_error: turns an error into (status, JSON body) in the surface's envelope;
        the core's error middleware uses it for every failure on these routes.
    :param claims: for routes this surface shares with others (same method and path, e.g.
        `GET /v1/models` in OpenAI, Anthropic and Gemini formats): whether a request is this
        surface's, from what the client sent (`anthropic-version`, `x-goog-api-key`...). The
        core asks the sharing surfaces in registration order; the first that claims a request
        answers it, and the one without `claims` (the core's OpenAI surface) answers the rest.
    """

    name: str
    routes: tuple[Route, ...]
    render_error: Callable[[GatewayError], tuple[int, bytes]] | None = None
    claims: Callable[[web.Request], bool] | None = None
