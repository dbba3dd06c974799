"""Issue 8's planted bugs, in a plugin that translates (no passthrough): each `BUG` is one a
plugin author really makes, and the conformance suite must fail for each
(tests/test_conformance_catches_bugs.py). With `BUG = None` the plugin is correct."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from relayport import hookimpl
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.content import TextBlock, ThinkingBlock
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.stream import Finish, ReasoningDelta, StreamEvent, TextDelta
from relayport.openai_compat import OpenAICompat, OpenAIStreamParser, parse_response, translate_request
from relayport.provider import Deployment, ProviderSpec
from relayport.wire.sse import SSEEvent

BUGS = ("length_as_stop", "truncation", "developer_dropped", "top_p_dropped", "reasoning_dropped",
        "error_ignored")
BUG: str | None = None
_KEEP = 400  # what the truncation bug keeps of an answer

COMPAT = OpenAICompat()
BUGGY = ProviderSpec(
    name="buggy",
    base_url="https://api.buggy.example/v1",
    key_env=("BUGGY_API_KEY",),
    capabilities=frozenset({"chat", "stream", "tools", "thinking"}),
    description="planted bugs (test plugin)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(BUGGY)


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    if BUG == "developer_dropped":
        request = attrs.evolve(request, messages=[m for m in request.messages if m.role != "developer"])
    if BUG == "top_p_dropped":
        request = attrs.evolve(request, top_p=None)
    return translate_request(deployment, COMPAT, request)


@hookimpl
def relayport_parse_response(deployment: Deployment, request: ChatRequest, response: UpstreamResponse) -> ChatResponse:
    result = parse_response(COMPAT, response)
    for choice in result.choices:
        if BUG == "length_as_stop" and choice.finish_reason == "length":
            choice.finish_reason = "stop"
        if BUG == "truncation":
            choice.message.content = [TextBlock(b.text[:_KEEP]) if isinstance(b, TextBlock) else b
                                      for b in choice.message.content]
        if BUG == "reasoning_dropped":
            choice.message.content = [b for b in choice.message.content if not isinstance(b, ThinkingBlock)]
    return result


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> OpenAIStreamParser:
    return BuggyParser(COMPAT)


class BuggyParser(OpenAIStreamParser):
    def __init__(self, compat: OpenAICompat) -> None:
        super().__init__(compat)
        self._sent = 0

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        try:
            events = super().feed(event)
        except GatewayError:
            if BUG == "error_ignored":
                self._done_anyway = True
                return []
            raise
        out: list[StreamEvent] = []
        for ev in events:
            if BUG == "length_as_stop" and isinstance(ev, Finish) and ev.reason == "length":
                ev = Finish("stop", ev.raw)
            if BUG == "reasoning_dropped" and isinstance(ev, ReasoningDelta):
                continue
            if BUG == "truncation" and isinstance(ev, TextDelta):
                room = max(0, _KEEP - self._sent)
                self._sent += len(ev.text)
                if not room:
                    continue
                ev = TextDelta(ev.text[:room])
            out.append(ev)
        return out

    def close(self) -> list[StreamEvent]:
        if BUG == "error_ignored":
            return []  # the vendor's error was swallowed: the stream just ends
        return super().close()
