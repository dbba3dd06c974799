"""The translating parser on GLM's streams: whole reads cut anywhere give what event-by-event gives."""

from __future__ import annotations

from relayport.model.stream import Finish, ReasoningDelta, StreamStart, TextDelta, UsageUpdate
from relayport.openai_compat import OpenAIStreamParser
from relayport.testing.streams import event_by_event, whole_reads
from relayport_zhipu import COMPAT, GLMStreamParser
from relayport_zhipu.testing import FakeZhipu

CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"北京"}'}}


def _stream(tool_stream: bool = False, **turn: object) -> bytes:
    fake = FakeZhipu()
    fake.queue_text(**turn)  # type: ignore[arg-type]
    body = {"model": "glm-4.6", "stream": True, "tool_stream": tool_stream}
    return b"".join(fake._glm_stream(body, fake.turns.popleft()).events or [])


def test_reasoning_text_finish_and_usage_from_a_glm_stream() -> None:
    raw = _stream(text="two words", reasoning="think first", usage=FakeZhipu().usage(20, 5, cached=4))
    events = event_by_event(GLMStreamParser(COMPAT), [raw])
    assert isinstance(events[0], StreamStart)
    assert events[1:3] == [ReasoningDelta("think first"), TextDelta("two words")]
    [finish] = [e for e in events if isinstance(e, Finish)]
    [usage] = [e.usage for e in events if isinstance(e, UsageUpdate)]
    assert finish.reason == "stop" and usage.cached_tokens == 4 and usage.output_tokens == 5
    for cut in range(len(raw) + 1):
        assert whole_reads(GLMStreamParser(COMPAT), [raw[:cut], raw[cut:]]) == events


def test_sensitive_stop_and_streamed_tool_call_cut_anywhere() -> None:
    for raw in (_stream(text="partial answer", finish_reason="sensitive"),
                _stream(tool_stream=True, tool_calls=[CALL])):
        expected = event_by_event(GLMStreamParser(COMPAT), [raw])
        assert [e.reason for e in expected if isinstance(e, Finish)] in (["content_filter"], ["tool_calls"])
        for cut in range(len(raw) + 1):
            assert whole_reads(GLMStreamParser(COMPAT), [raw[:cut], raw[cut:]]) == expected


def test_only_the_safety_block_changes_the_base_parsers_result() -> None:
    start = b'data: {"id":"1","created":1,"model":"glm-4.6","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}\n\n'
    blocked = start + b'data: {"error":{"code":"1301","message":"unsafe"}}\n\n'
    assert whole_reads(OpenAIStreamParser(COMPAT), [blocked])[-1] == ("error", 502)
    assert whole_reads(GLMStreamParser(COMPAT), [blocked])[1:] == [TextDelta("Hi"), Finish("content_filter", raw="1301")]
    failed = start + b'data: {"error":{"code":"1234","message":"network"}}\n\n'
    assert whole_reads(GLMStreamParser(COMPAT), [failed])[-1] == ("error", 502)
