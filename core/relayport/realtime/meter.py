"""One call record per realtime response: usage from its `response.done`, timed from `response.created`."""

from __future__ import annotations

import time

from relayport.gateway import Gateway
from relayport.model.errors import GatewayError
from relayport.provider import Deployment
from relayport.realtime.endpoint import Event
from relayport.realtime.events import status_of, usage_of


class ResponseMeter:
    def __init__(self, gateway: Gateway, deployment: Deployment) -> None:
        self.gateway = gateway
        self.deployment = deployment
        self.started = time.perf_counter()
        self.responses = 0

    def __call__(self, event: Event) -> None:
        if event.get("type") == "response.created":
            self.started = time.perf_counter()
            return
        self.responses += 1
        status, code = status_of(event)
        error = None if code is None else GatewayError(status, "realtime response failed", code=code)
        self.gateway.record(self.deployment, status, usage_of(event), self.started, error)
        self.started = time.perf_counter()
