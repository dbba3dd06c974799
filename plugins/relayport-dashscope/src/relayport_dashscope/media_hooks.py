"""The media hooks of the DashScope plugin (registered by importing them into the package)."""

from __future__ import annotations

from relayport import hookimpl
from relayport.model import EmbeddingRequest, MediaRequest, UpstreamRequest
from relayport.provider import Deployment
from relayport.speech_stream import SpeechStream
from relayport.tasks.vendor_plugin import TaskHooks
from relayport_dashscope import embeddings, media

_TASKS = TaskHooks(submit=media.submit, parse_submit=media.parse_submit, poll=media.poll,
                   parse_poll=media.parse_poll, cancel=media.cancel)
relayport_submit_task = _TASKS.relayport_submit_task
relayport_parse_submit = _TASKS.relayport_parse_submit
relayport_poll_request = _TASKS.relayport_poll_request
relayport_parse_poll = _TASKS.relayport_parse_poll
relayport_cancel_request = _TASKS.relayport_cancel_request


@hookimpl
def relayport_speech_stream(deployment: Deployment, request: MediaRequest) -> SpeechStream | None:
    return media.speech_stream(deployment, request)


@hookimpl
def relayport_embeddings_request(deployment: Deployment, request: EmbeddingRequest) -> UpstreamRequest:
    return embeddings.request(deployment, request)
