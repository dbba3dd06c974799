"""The media hooks of the MiniMax plugin (registered by importing them into the package)."""

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
from relayport.speech_stream import SpeechStream
from relayport_minimax import media


@hookimpl
def relayport_speech_stream(deployment: Deployment, request: MediaRequest) -> SpeechStream | None:
    return media.speech_stream(deployment, request)


@hookimpl
def relayport_submit_task(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    return media.submit(deployment, request)


@hookimpl
def relayport_parse_submit(deployment: Deployment, request: MediaRequest,
                           response: UpstreamResponse) -> SubmittedTask:
    return media.parse_submit(request, response)


@hookimpl
def relayport_poll_request(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    return media.poll(deployment, task)


@hookimpl
def relayport_parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return media.parse_poll(task, response)
