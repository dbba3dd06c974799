"""What the gateway tells observers about each finished call: usage meters, metrics, tracing.

`Gateway.record` builds one `CallRecord` per attempt (failed attempts included) and hands it
to every function in `Gateway.observers`. Observers run on the event loop right after the
call: they must only queue work (a batch writer, a counter increment), never block or await.
With no observers nothing is built, so the hot path pays one truth test.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import attrs

from relayport.accounts.money import from_units
from relayport.accounts.prices import MediaUnits
from relayport.model.usage import Usage


class Caller(Protocol):
    """The store key a request is served as, for the lifetime of the request (set by the auth
    middleware: see relayport.accounts.live). One object in one context variable, as a call
    pays for every variable it sets."""

    # The key's id: what records are charged to and what the call leaves behind belongs to
    # (never the key itself).
    id: str

    def admit(self, model: str) -> None:
        """Called with each model name the request resolves: raises the 403/402/429 the key's
        allow-list, budget or rates give."""

    def balance(self) -> int | None:
        """The key's remaining prepaid balance in money units (None: it keeps none)."""


# Who is calling: None for a TOML key or an open gateway.
caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("relayport_caller", default=None)


def caller_id() -> str | None:
    """The calling store key's id (None: not a store key)."""
    current = caller.get()
    return None if current is None else current.id


@attrs.define(slots=True)
class CallRecord:
    request_id: str
    caller: str | None
    model: str  # the configured name clients use
    provider: str
    deployment: str
    upstream_model: str
    status: int
    error: str | None  # the error's code (or type) when the attempt failed
    usage: Usage | None
    latency: float  # seconds from the attempt's start to its end (a stream's last byte)
    ttfb: float | None = None  # seconds to the first byte of a stream, when it was one
    stream: bool = False
    kind: str = "model"  # "service": a non-model service call (relayport.webservices)
    units: int | None = None  # billable units a service reported (e.g. Serper's credits)
    # What the call cost in money units of `[billing] currency` (relayport.accounts.money), set
    # by the usage meter (which observes first) when the model has a price. Kept as the integer
    # it is computed as: most observers add it up, and a Decimal per call is wasted on them.
    cost_units: int | None = None
    # What a finished media task produced (images, video seconds, speech characters), priced
    # per unit: see relayport.tasks.metering.
    media: MediaUnits | None = None

    @property
    def cost(self) -> Decimal | None:
        """What the call cost in `[billing] currency` (None: the model has no price)."""
        return None if self.cost_units is None else from_units(self.cost_units)


Observer = Callable[[CallRecord], None]
# A usage meter's entry taking a model call's record as arguments, in CallRecord's field order
# (`kind`, `units` and `cost_units` left out); returns the cost in money units (None: no price).
# See `Gateway.meter`.
CallMeter = Callable[[str, str | None, str, str, str, str, int, str | None, Usage | None, float,
                      float | None, bool, MediaUnits | None], int | None]
