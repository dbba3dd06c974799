"""relayport plugin for Kuaishou Kling: text2video / image2video tasks with per-call JWTs."""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
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
from relayport_kling import api

KLING = ProviderSpec(
    name="kling",
    base_url="https://api-singapore.klingai.com",
    key_env=("KLING_API_KEY",),
    # The key is "access_key|secret_key"; the plugin signs a JWT per call (never the raw key).
    auth="none",
    model_patterns=("kling-*",),
    capabilities=frozenset({"video_generation"}),
    description="Kling video generation (JWT from access key + secret key)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(KLING)


@hookimpl
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    return api.submit(deployment, request)


@hookimpl
def relayport_parse_submit(deployment: Deployment, request: MediaRequest,
                           response: UpstreamResponse) -> SubmittedTask | None:
    return api.parse_submit(request, response)


@hookimpl
def relayport_poll_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    return api.poll(deployment, task)


@hookimpl
def relayport_parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate | None:
    return api.parse_poll(response)


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
    return api.map_error(response)
