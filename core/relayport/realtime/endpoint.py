"""What a vendor plugin returns for a realtime session: where to connect, how events translate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

Event = dict[str, Any]


@attrs.define(slots=True)
class Relay:
    """What one event turns into: events for the client (OpenAI realtime events) and for the vendor."""

    client: list[Event] = attrs.field(factory=list)
    vendor: list[Event] = attrs.field(factory=list)


NOTHING_TO_RELAY = Relay()  # never mutated: translators return it when an event has no effect


class RealtimeError(Exception):
    """Raised by a translator for an event it cannot serve. The client gets an OpenAI `error`
    event with this message and code; with `close` set, the session then ends with that close code."""

    def __init__(self, message: str, code: str = "invalid_event", *, type: str = "invalid_request_error",
                 close: int | None = None, event_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.type = type
        self.close = close
        self.event_id = event_id


class RealtimeTranslator(Protocol):
    """Translates one session's events; one instance per session, like a `StreamParser`.

    Pure: decoded JSON in, decoded JSON out; the core does every send and receive. Events
    for the client are OpenAI realtime events (the GA names: `response.output_audio.delta`...).
    A translator may keep state (the open response, the session config) between calls.
    """

    def start(self) -> Relay:
        """Events to send once both sockets are open (e.g. the `session.created` OpenAI clients
        expect first, when the vendor has no such event)."""
        ...

    def from_client(self, event: Event) -> Relay:
        """One client event (a dict with a string `type`). Raise `RealtimeError` to refuse it."""
        ...

    def from_vendor(self, event: Event) -> Relay:
        """One vendor message (decoded from a text or binary frame)."""
        ...


@attrs.define(frozen=True)
class RealtimeEndpoint:
    """A vendor's realtime socket for one deployment.

    :param url: the ``ws://`` or ``wss://`` URL, query included (model, API version).
    :param headers: sent with the upgrade request (the vendor key among them: never logged).
    :param translator: None when the vendor speaks OpenAI's realtime events itself: frames
        then pass through untouched (only `response.created`/`response.done` are decoded, for
        usage). Otherwise a fresh `RealtimeTranslator` for this session.
    :param protocols: WebSocket subprotocols to offer the vendor.
    """

    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    translator: RealtimeTranslator | None = None
    protocols: tuple[str, ...] = ()


def ws_url(http_url: str) -> str:
    """The WebSocket URL for an http(s) base URL (https -> wss, http -> ws)."""
    if http_url.startswith("https://"):
        return "wss://" + http_url[8:]
    if http_url.startswith("http://"):
        return "ws://" + http_url[7:]
    return http_url


def session_of(event: Event) -> Event:
    """The `session` object of a client's `session.update`; a `RealtimeError` for anything else."""
    session = event.get("session")
    if not isinstance(session, dict):
        raise RealtimeError("'session' must be an object.", "invalid_value")
    return session
