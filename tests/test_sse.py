"""SSE framing: the decoder every streamed call goes through, and the encoders surfaces write with.

Upstreams split events across TCP reads anywhere (inside a field name, between CR and LF),
so the decoder is checked against every split point of representative streams.
"""

from __future__ import annotations

import orjson
import pytest

from relayport.wire.sse import DONE, LineDecoder, SSEDecoder, SSEEvent, encode_data, encode_event, payloads

# One stream with everything a vendor sends: comments/keep-alives, named events with ids,
# multi-line data, `data:` without the space, an empty data line, and the OpenAI terminator.
STREAM_LF = (
    b": keep-alive\n"
    b"\n"
    b"event: message_start\n"
    b"id: 7\n"
    b'data: {"type":"message_start"}\n'
    b"\n"
    b"data: line one\n"
    b": a comment between data lines\n"
    b"data: line two\n"
    b"\n"
    b"data:no-space\n"
    b"\n"
    b"data:\n"
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = [
    SSEEvent(b'{"type":"message_start"}', "message_start", "7"),
    SSEEvent(b"line one\nline two"),
    SSEEvent(b"no-space"),
    SSEEvent(b""),
    SSEEvent(DONE),
]

LINE_ENDS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


def _with_line_end(stream: bytes, end: bytes) -> bytes:
    return stream.replace(b"\n", end)


def _decode(pieces: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    events.extend(decoder.flush())
    return events


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_whole_stream_in_one_read(end: bytes) -> None:
    assert _decode([_with_line_end(STREAM_LF, end)]) == EXPECTED


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_every_single_split_point(end: bytes) -> None:
    raw = _with_line_end(STREAM_LF, end)
    for i in range(len(raw) + 1):
        assert _decode([raw[:i], raw[i:]]) == EXPECTED, f"split at byte {i}: {raw[:i]!r} | {raw[i:]!r}"


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_every_pair_of_split_points(end: bytes) -> None:
    # Short stream so the O(n^2) loop stays fast; three reads catch state carried over twice.
    raw = _with_line_end(b"event: a\nid: 1\ndata: x\ndata: y\n\n: ka\n\ndata: z\n\n", end)
    expected = [SSEEvent(b"x\ny", "a", "1"), SSEEvent(b"z")]
    for i in range(len(raw) + 1):
        for j in range(i, len(raw) + 1):
            assert _decode([raw[:i], raw[i:j], raw[j:]]) == expected, (i, j)


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_one_byte_per_read(end: bytes) -> None:
    raw = _with_line_end(STREAM_LF, end)
    assert _decode([raw[i : i + 1] for i in range(len(raw))]) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # The case that splits a multi-line event in two when CR and LF arrive in different reads.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    # CR alone ends a line, so the blank line is complete at the last CR ...
    assert decoder.feed(b"\n\r") == [SSEEvent(b"a\nb")]
    # ... and the LF that follows it in the next read is not another (empty) line.
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: c\r\n\r") == [SSEEvent(b"c")]
    assert decoder.feed(b"") == []  # an empty read between CR and LF changes nothing
    assert decoder.feed(b"\ndata: d\r\n\r\n") == [SSEEvent(b"d")]
    assert decoder.flush() == []


def test_events_are_returned_as_soon_as_their_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\ndata: 2\n") == [SSEEvent(b"1")]
    assert decoder.feed(b"\n") == [SSEEvent(b"2")]
    assert decoder.feed(b"data: 3\n\ndata: 4\n\n") == [SSEEvent(b"3"), SSEEvent(b"4")]


def test_comments_and_keep_alives_yield_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": ping\n\n:\n\n: OPENROUTER PROCESSING\n\n") == []
    assert decoder.flush() == []


def test_comment_lines_inside_an_event_are_skipped() -> None:
    assert _decode([b"data: a\n: note\ndata: b\n\n"]) == [SSEEvent(b"a\nb")]


def test_only_one_leading_space_is_removed_from_a_value() -> None:
    assert _decode([b"data:  two spaces\n\n"]) == [SSEEvent(b" two spaces")]
    assert _decode([b"data:a:b: c\n\n"]) == [SSEEvent(b"a:b: c")]


def test_event_and_id_fields() -> None:
    events = _decode([b"event: content_block_delta\nid: abc-1\ndata: {}\n\n"])
    assert events == [SSEEvent(b"{}", event="content_block_delta", id="abc-1")]
    assert _decode([b"event:ping\ndata: {}\n\n"])[0].event == "ping"


def test_unknown_fields_are_ignored() -> None:
    assert _decode([b"retry: 3000\nfoo: bar\ndata: x\n\n"]) == [SSEEvent(b"x")]


def test_empty_data() -> None:
    assert _decode([b"data:\n\n"]) == [SSEEvent(b"")]
    assert _decode([b"data\n\n"]) == [SSEEvent(b"")]  # a field name alone has an empty value
    assert _decode([b"data:\ndata:\n\n"]) == [SSEEvent(b"\n")]


def test_block_without_data_or_event_dispatches_nothing() -> None:
    assert _decode([b"id: 5\n\n"]) == []


def test_trailing_event_without_final_blank_line_comes_from_flush() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: first\n\ndata: last") == [SSEEvent(b"first")]
    assert decoder.flush() == [SSEEvent(b"last")]
    assert decoder.flush() == []  # flushing again returns nothing twice


def test_trailing_event_with_single_newline_comes_from_flush() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: done\ndata: {}\n") == []
    assert decoder.flush() == [SSEEvent(b"{}", "done")]


def test_flush_on_whitespace_only_leftover_is_empty() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n\n\n") == [SSEEvent(b"x")]
    assert decoder.flush() == []


def test_decoder_is_reusable_after_flush() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a")
    assert decoder.flush() == [SSEEvent(b"a")]
    assert decoder.feed(b"data: b\n\n") == [SSEEvent(b"b")]


def test_utf8_split_inside_a_character() -> None:
    raw = "data: 你好, ünïcödé\n\n".encode()
    for i in range(len(raw) + 1):
        events = _decode([raw[:i], raw[i:]])
        assert [e.data.decode() for e in events] == ["你好, ünïcödé"]


# ------------------------------------------------------------------------------- JSON lines


JSONL = b'{"a": 1}\n{"b": [1, 2]}\n\n  \n{"c": "x\\ny"}\n'


def _lines(pieces: list[bytes]) -> list[bytes]:
    decoder = LineDecoder()
    out: list[SSEEvent] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.flush())
    assert all(e.event is None and e.id is None for e in out)
    return [e.data for e in out]


def test_line_decoder_every_split_point() -> None:
    expected = [b'{"a": 1}', b'{"b": [1, 2]}', b'{"c": "x\\ny"}']
    for i in range(len(JSONL) + 1):
        assert _lines([JSONL[:i], JSONL[i:]]) == expected, i
    assert [orjson.loads(d) for d in expected] == [{"a": 1}, {"b": [1, 2]}, {"c": "x\ny"}]


def test_line_decoder_crlf_and_blank_lines() -> None:
    assert _lines([b'{"a":1}\r\n\r\n{"b":2}\r\n']) == [b'{"a":1}', b'{"b":2}']


def test_line_decoder_last_line_without_newline_comes_from_flush() -> None:
    decoder = LineDecoder()
    assert [e.data for e in decoder.feed(b'{"a":1}\n{"done":true}')] == [b'{"a":1}']
    assert decoder.flush() == [SSEEvent(b'{"done":true}')]
    assert decoder.flush() == []


# ---------------------------------------------------------------------------------- encoders


def test_encode_data_bytes() -> None:
    assert encode_data(b'{"x":1}') == b'data: {"x":1}\n\n'
    assert encode_data(DONE) == b"data: [DONE]\n\n"
    assert encode_data(b"") == b"data: \n\n"


def test_encode_event_bytes() -> None:
    assert encode_event("message_stop", b'{"type":"message_stop"}') == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


def test_encoded_bytes_decode_back() -> None:
    raw = encode_event("ping", b"{}") + encode_data(b'{"a":1}') + encode_data(DONE)
    assert _decode([raw]) == [SSEEvent(b"{}", "ping"), SSEEvent(b'{"a":1}'), SSEEvent(DONE)]


# The payload-only fast path must agree with the full decoder on every stream and split.
SIMPLE_LF = b"".join(
    [b'event: message_start\ndata: {"type":"message_start"}\n\n']
    + [b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"w%d"}}\n\n' % i
       for i in range(5)]
    + [b'data: {"choices":[]}\n\n', b"data: [DONE]\n\n"]
)


def _payloads(pieces: list[bytes]) -> list[bytes]:
    decoder = SSEDecoder()
    out: list[bytes] = []
    for piece in pieces:
        data = decoder.take(piece)
        if data:
            assert data.endswith(b"\n\n") and b"\r" not in data
            out.extend(payloads(data))
    out.extend(ev.data for ev in decoder.flush())
    return out


@pytest.mark.parametrize("stream", [SIMPLE_LF, STREAM_LF, STREAM_LF + SIMPLE_LF, SIMPLE_LF + STREAM_LF],
                         ids=["simple", "mixed", "mixed-then-simple", "simple-then-mixed"])
@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_payloads_agree_with_events_at_every_split(stream: bytes, end: bytes) -> None:
    raw = _with_line_end(stream, end)
    expected = [ev.data for ev in _decode([raw])]
    assert _payloads([raw]) == expected
    for cut in range(len(raw) + 1):
        assert _payloads([raw[:cut], raw[cut:]]) == expected, cut
