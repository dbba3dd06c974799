"""A stream's two waits (provider `timeouts`): `first_byte` bounds the wait for the vendor's
answer to start (its headers and first event), `idle` every gap after that. A model that thinks
longer than the idle gap before its first byte is served; a stream that goes quiet for longer
than the gap is cut."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest
from aiohttp import web

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply

MSG = [{"role": "user", "content": "hi"}]


class ThinkingVendor(FakeOpenAI):
    """Waits `think` seconds before its headers, then streams with `gap` between events; with
    `stall`, sends its first event with the headers and stalls that long before the rest."""

    def __init__(self, think: float, gap: float = 0.0, stall: float = 0.0) -> None:
        super().__init__()
        self.think = think
        self.gap = gap
        self.stall = stall

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        await asyncio.sleep(self.think)
        return await super()._answer(request, rec)

    async def play(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.events is not None and self.stall:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(reply.events[0])  # goes out with the headers
            await asyncio.sleep(self.stall)
            for event in reply.events[1:]:
                await resp.write(event)
            await resp.write_eof()
            return resp
        if reply.events is not None:
            reply.delay = self.gap
        return await super().play(request, reply)


@pytest.fixture
def vendor(request):
    fake = ThinkingVendor(*request.param).start()
    yield fake
    fake.stop()


def _gateway(relayport_gateway, vendor):
    return relayport_gateway({"models": [{
        "name": "m", "provider": "openai", "base_url": vendor.base_url, "api_key": vendor.api_key,
        "timeouts": {"first_byte": 3.0, "idle": 0.4}}]}, env={})


def _client(gw):
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0, timeout=10)


@pytest.mark.parametrize("vendor", [(1.0, 0.0)], indirect=True)
def test_a_stream_may_think_past_the_idle_gap_before_its_first_byte(relayport_gateway, vendor):
    client = _client(_gateway(relayport_gateway, vendor))
    chunks = list(client.chat.completions.create(model="m", messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


@pytest.mark.parametrize("vendor", [(0.0, 1.0)], indirect=True)
def test_a_stream_quiet_past_the_idle_gap_is_cut(relayport_gateway, vendor):
    client = _client(_gateway(relayport_gateway, vendor))
    got: list[str] = []
    with pytest.raises(openai.APIError, match="did not answer in time"):
        for chunk in client.chat.completions.create(model="m", messages=MSG, stream=True):
            got.append(chunk.choices[0].delta.content or "")
    # The first event came within the first-byte wait (the model may think before it, headers
    # sent or not); the next gap was longer than `idle`: cut with an error event.
    assert got and "".join(got) != "echo: hi"


@pytest.mark.parametrize("vendor", [(0.0, 0.0, 2.0)], indirect=True)
def test_a_stream_quiet_after_a_first_event_that_came_with_its_headers_is_cut(relayport_gateway, vendor):
    client = _client(_gateway(relayport_gateway, vendor))
    started = time.monotonic()
    with pytest.raises(openai.APIError, match="did not answer in time"):
        list(client.chat.completions.create(model="m", messages=MSG, stream=True))
    assert time.monotonic() - started < 1.5  # the idle gap (0.4 s), not the first-byte wait (3 s)
