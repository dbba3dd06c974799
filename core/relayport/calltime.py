"""The gateway's own share of a call's time, for the `x-relayport-gateway-ms` header.

The server middleware starts a `CallClock` per request; `relayport.upstream` adds the time it
waits for vendors (connecting, sending, until the answer's headers, reading a whole body);
the header, written as the response starts, is the rest: parsing, routing, translating,
queueing and backoff waits. Two clock reads per upstream step: nothing worth switching off.
"""

from __future__ import annotations

import contextvars
import time


class CallClock:
    __slots__ = ("arrived", "upstream")

    def __init__(self) -> None:
        self.arrived = time.perf_counter()
        self.upstream = 0.0

    def gateway_ms(self) -> str:
        return f"{(time.perf_counter() - self.arrived - self.upstream) * 1000:.2f}"


clock: contextvars.ContextVar[CallClock | None] = contextvars.ContextVar("relayport_clock", default=None)
