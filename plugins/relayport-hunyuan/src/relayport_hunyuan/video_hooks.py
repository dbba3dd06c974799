"""The video task hooks of the Hunyuan plugin (registered by importing them into the package).

They answer only for the `hunyuan-video` provider: the chat provider `hunyuan` has no tasks.
"""

from __future__ import annotations

from relayport import hookimpl
from relayport.model import (
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.provider import Deployment
from relayport_hunyuan import video

PROVIDER = "hunyuan-video"


@hookimpl
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
    return video.submit(deployment, request) if deployment.provider.name == PROVIDER else None


@hookimpl
def relayport_parse_submit(deployment: Deployment, request: MediaRequest,
                           response: UpstreamResponse) -> SubmittedTask | None:
    return video.parse_submit(deployment, request, response) if deployment.provider.name == PROVIDER else None


@hookimpl
def relayport_poll_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
    return video.poll(deployment, task) if deployment.provider.name == PROVIDER else None


@hookimpl
def relayport_parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate | None:
    return video.parse_poll(deployment, task, response) if deployment.provider.name == PROVIDER else None
