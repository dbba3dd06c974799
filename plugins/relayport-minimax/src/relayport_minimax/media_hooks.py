"""The media hooks of the MiniMax plugin (registered by importing them into the package)."""

from __future__ import annotations

from relayport import hookimpl
from relayport.model import MediaRequest
from relayport.provider import Deployment
from relayport.speech_stream import SpeechStream
from relayport.tasks.vendor_plugin import TaskHooks
from relayport_minimax import media

_TASKS = TaskHooks(submit=media.submit, parse_submit=media.parse_submit, poll=media.poll,
                   parse_poll=media.parse_poll)
relayport_submit_task = _TASKS.relayport_submit_task
relayport_parse_submit = _TASKS.relayport_parse_submit
relayport_poll_request = _TASKS.relayport_poll_request
relayport_parse_poll = _TASKS.relayport_parse_poll


@hookimpl
def relayport_speech_stream(deployment: Deployment, request: MediaRequest) -> SpeechStream | None:
    return media.speech_stream(deployment, request)
