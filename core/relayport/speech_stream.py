"""Streamed speech: what a plugin answers to `relayport_speech_stream`, and the core's reader.

A vendor streams speech as raw audio bytes (chunked HTTP, OpenAI and ElevenLabs) or as
events carrying encoded audio (SSE or JSON lines with base64 or hex strings: MiniMax,
DashScope). The plugin names the request and the framing; for events it gives an
`AudioParser` that turns one event into audio bytes. The core sends the request, reads
until the first audio bytes (so a vendor error before them is still a proper error answer,
and the route can fall back to another deployment), then hands the client each chunk as it
arrives.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import attrs
import orjson

from relayport import upstream
from relayport.accounts.prices import MediaUnits
from relayport.model.errors import CLIENT_GONE, GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse, adjustment_headers
from relayport.model.usage import Usage
from relayport.wire.sse import DONE, LineDecoder, SSEDecoder, SSEEvent

if TYPE_CHECKING:
    from relayport.gateway import Gateway
    from relayport.provider import Deployment

FRAMINGS = ("raw", "sse", "lines")
_READ = 1 << 16


class AudioParser(Protocol):
    """Turns one vendor event into audio bytes; one instance per stream."""

    def feed(self, event: SSEEvent) -> bytes:
        """The audio this event carries (b"" for none). For a vendor error event, raise
        `GatewayError`: before the first audio it becomes the client's error answer,
        after it the stream ends with an error."""
        ...

    @property
    def done(self) -> bool:
        """True once the vendor said the audio is complete (the core stops reading)."""
        ...

    @property
    def usage(self) -> Usage | None:
        """What the vendor reported the call cost, once it did (None until then, or never)."""
        ...


@attrs.define
class SpeechStream:
    """A plugin's streamed speech call.

    :param request: the vendor request; the core marks it streaming (idle-gap timeouts).
    :param framing: ``"raw"`` (the body is the audio), ``"sse"`` or ``"lines"`` (events, read
        by ``parser``).
    :param parser: for ``"sse"`` and ``"lines"``: a fresh `AudioParser`.
    :param media_type: the audio's content type; None takes the vendor's ``Content-Type``
        for raw bodies and the client's ``response_format`` otherwise.
    """

    request: UpstreamRequest
    framing: str = "raw"
    parser: AudioParser | None = None
    media_type: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, not {self.framing!r}")
        if self.framing != "raw" and self.parser is None:
            raise ValueError(f"framing {self.framing!r} needs a parser")


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


class EncodedAudio:
    """An `AudioParser` for JSON events with the audio as a base64 or hex string at one path.

    :param audio: the path of the audio string, e.g. ``("output", "audio", "data")``.
    :param encoding: ``"base64"`` or ``"hex"``.
    :param error: the vendor's error in an event (None when it is not one).
    :param final: whether an event ends the stream (the `[DONE]` sentinel always does).
    :param usage: the call's usage in an event, when it carries it.
    :param skip: events whose audio must not be sent (a vendor repeating the whole audio in
        its last event).
    """

    def __init__(self, audio: tuple[str, ...], encoding: str = "base64", *,
                 error: Callable[[dict[str, Any]], GatewayError | None] | None = None,
                 final: Callable[[dict[str, Any]], bool] | None = None,
                 usage: Callable[[dict[str, Any]], Usage | None] | None = None,
                 skip: Callable[[dict[str, Any]], bool] | None = None, vendor: str = "vendor") -> None:
        if encoding not in ("base64", "hex"):
            raise ValueError("encoding must be 'base64' or 'hex'")
        self._path = audio
        self._hex = encoding == "hex"
        self._error, self._final, self._usage, self._skip = error, final, usage, skip
        self._vendor = vendor
        self.done = False
        self.usage: Usage | None = None

    def feed(self, event: SSEEvent) -> bytes:
        data = event.data.strip()
        if not data:
            return b""
        if data == DONE:
            self.done = True
            return b""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(502, f"{self._vendor}: a streamed audio event is not JSON.",
                               code="bad_upstream_response") from None
        if not isinstance(obj, dict):
            return b""
        if self._error is not None and (err := self._error(obj)) is not None:
            raise err
        if self._usage is not None and (usage := self._usage(obj)) is not None:
            self.usage = usage
        if self._final is not None and self._final(obj):
            self.done = True
        if self._skip is not None and self._skip(obj):
            return b""
        value = _at(obj, self._path)
        if not isinstance(value, str) or not value:
            return b""
        try:
            return bytes.fromhex(value) if self._hex else base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise GatewayError(502, f"{self._vendor}: a streamed audio chunk is not valid "
                                    f"{'hex' if self._hex else 'base64'}.", code="bad_upstream_response") from None


class AudioStream:
    """A vendor's speech stream, opened: `first` holds the audio read before the client got
    its headers; iterate for the rest. `error` is set when the vendor failed mid-stream."""

    def __init__(self, gateway: Gateway, dep: Deployment, plan: SpeechStream, cm: Any,
                 resp: aiohttp.ClientResponse, started: float) -> None:
        self.gateway = gateway
        self.deployment = dep
        self.units: MediaUnits | None = None
        self._plan = plan
        self._cm = cm
        self._resp = resp
        self._started = started
        self._ttfb: float | None = None
        self._decoder: SSEDecoder | LineDecoder | None = (
            None if plan.framing == "raw" else SSEDecoder() if plan.framing == "sse" else LineDecoder())
        self._pending: GatewayError | None = None  # an error event read with audio before it
        self._ended = False  # the vendor's body (or its done event) has been read to the end
        self._closed = False
        self.first = b""
        self.error: GatewayError | None = None
        self.media_type = plan.media_type or (resp.content_type if plan.framing == "raw" else None)
        # The client's response headers (the gateway adds the route's own).
        self.headers: dict[str, str] = {}

    @property
    def usage(self) -> Usage | None:
        return self._plan.parser.usage if self._plan.parser is not None else None

    async def _read(self) -> bytes:
        """The next audio bytes; b"" once the vendor's stream is complete."""
        parser, decoder = self._plan.parser, self._decoder
        content = self._resp.content
        if self._pending is not None:
            raise self._pending
        while not self._ended:
            chunk = await content.readany()
            if self._ttfb is None:
                self._ttfb = time.perf_counter() - self._started
            if decoder is None:
                if not chunk:
                    self._ended = True
                return chunk
            assert parser is not None
            events = decoder.feed(chunk) if chunk else decoder.flush()
            if not chunk:
                self._ended = True
            audio = []
            try:
                for ev in events:
                    audio.append(parser.feed(ev))
                    if parser.done:
                        self._ended = True
                        break
            except GatewayError as exc:
                if not any(audio):
                    raise
                # The audio before the error in the same read still goes out; the error next.
                self._pending = exc
            joined = b"".join(audio)
            if joined:
                return joined
        return b""

    async def start(self) -> None:
        """Read up to the first audio bytes; raises what the vendor said instead."""
        try:
            self.first = await self._read()
        except GatewayError:
            await self.close(failed=True)
            raise
        except TimeoutError:
            await self.close(failed=True)
            raise upstream.timed_out(self.deployment) from None
        except aiohttp.ClientError as exc:
            await self.close(failed=True)
            raise upstream.unreachable(self.deployment, exc) from None
        if not self.first:
            await self.close(failed=True)
            raise GatewayError(502, f"{self.deployment.provider.name}: the vendor's stream ended with no audio.",
                               code="no_content", retryable=True)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The audio after `first`, as it arrives. A vendor failure ends it with `error` set."""
        try:
            while True:
                chunk = await self._read()
                if not chunk:
                    return
                yield chunk
        except GatewayError as exc:
            self.error = exc
        except TimeoutError:
            self.error = upstream.timed_out(self.deployment)
        except aiohttp.ClientError as exc:
            self.error = upstream.unreachable(self.deployment, exc)
        finally:
            await self.close()

    async def close(self, failed: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if not failed:
            err = self.error
            if err is None and not self._ended:
                # The route closes a stream its client left: logged as such (nginx's 499), and
                # still charged its characters, which the vendor bills when it takes the text.
                err = CLIENT_GONE
            self.gateway.record(self.deployment, err.status if err else self._resp.status, self.usage,
                                self._started, err, ttfb=self._ttfb, stream=True,
                                media=self.units if self.error is None else None)
        # An unfinished read (client gone, vendor error) drops the connection so the vendor
        # stops generating for nobody.
        if not self._ended:
            self._resp.close()
        await self._cm.__aexit__(None, None, None)


async def open_stream(gateway: Gateway, dep: Deployment, plan: SpeechStream,
                      units: MediaUnits | None = None) -> AudioStream:
    """Send the plugin's request and read to the first audio bytes (raises `GatewayError`).
    `units`: what the call produces when it ends whole, for its call record (prices per unit)."""
    plan.request.stream = True
    started = time.perf_counter()
    cm = upstream.send(gateway.session, dep, plan.request)
    resp = await cm.__aenter__()
    try:
        # An event stream answered with one JSON body is the vendor's error report (MiniMax sends
        # its `base_resp` failures so, with HTTP 200).
        refused = plan.framing != "raw" and resp.content_type == "application/json"
        if resp.status >= 300 or refused:
            body = await upstream.read_body(dep, resp, gateway.max_response_bytes)
            err = dep.hooks.relayport_map_error(deployment=dep, response=UpstreamResponse(resp.status, resp.headers,
                                                                                          body))
            if err is None and refused and resp.status < 300:
                err = GatewayError(502, f"{dep.provider.name}: the vendor answered JSON instead of an audio stream.",
                                   code="bad_upstream_response")
            raise err or GatewayError(resp.status if resp.status >= 400 else 502, f"HTTP {resp.status}")
    except BaseException:
        await cm.__aexit__(None, None, None)
        raise
    stream = AudioStream(gateway, dep, plan, cm, resp, started)
    stream.units = units
    stream.headers.update(adjustment_headers(plan.request.adjustments))
    await stream.start()
    return stream
