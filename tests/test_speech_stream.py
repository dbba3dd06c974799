"""The streamed-speech reader: encoded audio events decoded in order, vendor error events, the
closing event that repeats the audio, and audio read in the same network read as an error."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from relayport.model import GatewayError, UpstreamRequest, Usage
from relayport.speech_stream import AudioStream, EncodedAudio, SpeechStream
from relayport.wire.sse import SSEEvent


def ev(obj: Any) -> SSEEvent:
    return SSEEvent(orjson.dumps(obj))


def test_encoded_audio_decodes_hex_skips_the_repeat_and_reads_usage():
    parser = EncodedAudio(("data", "audio"), "hex", final=lambda e: e["data"]["status"] == 2,
                          skip=lambda e: e["data"]["status"] == 2,
                          usage=lambda e: Usage(extra={"characters": e["extra_info"]["chars"]})
                          if "extra_info" in e else None)
    assert parser.feed(ev({"data": {"audio": b"ab".hex(), "status": 1}})) == b"ab"
    assert not parser.done and parser.usage is None
    assert parser.feed(ev({"data": {"audio": b"abcd".hex(), "status": 2}, "extra_info": {"chars": 5}})) == b""
    assert parser.done and parser.usage == Usage(extra={"characters": 5})


def test_encoded_audio_base64_done_sentinel_errors_and_bad_chunks():
    parser = EncodedAudio(("output", "audio", "data"), error=lambda e: GatewayError(429, "slow down")
                          if e.get("code") == "Throttling" else None, vendor="acme")
    assert parser.feed(ev({"output": {"audio": {"data": base64.b64encode(b"xyz").decode()}}})) == b"xyz"
    assert parser.feed(ev({"output": {"audio": {"data": ""}}})) == b""  # a chunk with no audio
    with pytest.raises(GatewayError) as err:
        parser.feed(ev({"code": "Throttling"}))
    assert err.value.status == 429
    with pytest.raises(GatewayError, match="acme: a streamed audio chunk is not valid base64"):
        parser.feed(ev({"output": {"audio": {"data": "%%%"}}}))
    with pytest.raises(GatewayError, match="not JSON"):
        parser.feed(SSEEvent(b"{oops"))
    parser.feed(SSEEvent(b"[DONE]"))
    assert parser.done


def test_speech_stream_needs_a_parser_for_events():
    up = UpstreamRequest("POST", "http://vendor/tts")
    assert SpeechStream(up).framing == "raw"
    with pytest.raises(ValueError):
        SpeechStream(up, framing="sse")
    with pytest.raises(ValueError):
        SpeechStream(up, framing="websocket", parser=EncodedAudio(("a",)))


class _Content:
    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def readany(self) -> bytes:
        return self.reads.pop(0) if self.reads else b""


class _Resp:
    def __init__(self, reads: list[bytes]) -> None:
        self.content = _Content(reads)
        self.content_type = "text/event-stream"
        self.status = 200
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _CM:
    async def __aexit__(self, *exc: Any) -> None:
        return None


def _stream(reads: list[bytes]) -> tuple[AudioStream, list[tuple[Any, ...]], _Resp]:
    records: list[tuple[Any, ...]] = []
    gateway = SimpleNamespace(record=lambda *a, **k: records.append(a))
    dep = SimpleNamespace(provider=SimpleNamespace(name="acme"))
    parser = EncodedAudio(("audio",), error=lambda e: GatewayError(502, e["error"]) if "error" in e else None)
    plan = SpeechStream(UpstreamRequest("POST", "http://vendor/tts"), framing="sse", parser=parser)
    resp = _Resp(reads)
    return AudioStream(gateway, dep, plan, _CM(), resp, 0.0), records, resp  # type: ignore[arg-type]


def _sse(*objs: Any) -> bytes:
    return b"".join(b"data: " + orjson.dumps(o) + b"\n\n" for o in objs)


async def test_audio_before_an_error_in_the_same_read_still_goes_out():
    a, b = base64.b64encode(b"one").decode(), base64.b64encode(b"two").decode()
    stream, records, resp = _stream([_sse({"audio": a}, {"audio": b}, {"error": "vendor fell over"})])
    await stream.start()
    assert stream.first == b"onetwo"
    assert [c async for c in stream.chunks()] == []
    assert stream.error is not None and stream.error.message == "vendor fell over"
    assert resp.closed and records[0][1] == 502  # recorded once, as the error it ended with


async def test_error_before_any_audio_raises_and_an_empty_stream_is_an_error():
    stream, records, _ = _stream([_sse({"error": "no credit"})])
    with pytest.raises(GatewayError, match="no credit"):
        await stream.start()
    stream, _, _ = _stream([b": keep-alive\n\n"])
    with pytest.raises(GatewayError) as err:
        await stream.start()
    assert err.value.code == "no_content" and err.value.retryable
    assert records == []  # a failed start is recorded by the route's attempt, not twice


async def test_a_client_that_leaves_midway_is_a_499_still_charged_its_characters():
    """The route closes the stream when its client goes away: one record, status 499 like any
    call whose client left, with the call's units (the vendor bills the text it took)."""
    from relayport.accounts.prices import MediaUnits

    one, two = base64.b64encode(b"one").decode(), base64.b64encode(b"two").decode()
    stream, records, resp = _stream([_sse({"audio": one}), _sse({"audio": two}), _sse({"audio": one})])
    calls: list[dict[str, Any]] = []
    stream.gateway = SimpleNamespace(record=lambda *a, **k: calls.append({"args": a, **k}))  # type: ignore[assignment]
    stream.units = MediaUnits(speech_chars=120)
    await stream.start()
    async for _ in stream.chunks():
        break  # the client's write failed: the route stops reading and closes the stream
    await stream.close()
    [call] = calls
    status, error = call["args"][1], call["args"][4]
    assert (status, error.code) == (499, "client_closed_request")
    assert call["media"] == MediaUnits(speech_chars=120) and resp.closed
