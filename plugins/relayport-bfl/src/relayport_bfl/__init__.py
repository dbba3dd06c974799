"""relayport plugin for Black Forest Labs FLUX: async image tasks polled through `polling_url`."""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.accounts.sheet import PriceSheet
from relayport.model import (
    GatewayError,
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.provider import Deployment, ProviderSpec
from relayport_bfl import api

BFL = ProviderSpec(
    name="bfl",
    base_url="https://api.bfl.ai",
    key_env=("BFL_API_KEY",),
    auth="header:x-key",
    model_patterns=("flux-*",),
    capabilities=frozenset({"images"}),
    prices=PriceSheet(__name__),
    description="Black Forest Labs FLUX images",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(BFL)


@hookimpl
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    return api.submit(deployment, request)


@hookimpl
def relayport_parse_submit(deployment: Deployment, request: MediaRequest,
                           response: UpstreamResponse) -> SubmittedTask | None:
    return api.parse_submit(response)


@hookimpl
def relayport_poll_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    return api.poll(deployment, task)


@hookimpl
def relayport_parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate | None:
    return api.parse_poll(task, response)


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return api.map_error(response)
