"""Usage accounting on passed-through streams: the last usage a read carries, found from its end."""

from __future__ import annotations

import orjson
import pytest

from relayport.gateway import _inspect_events, _last_usage
from relayport.model.http import UpstreamRequest
from relayport.model.usage import Usage
from relayport.provider import Passthrough


def reader(obj: dict) -> Usage | None:
    u = obj.get("usage")
    return Usage(input_tokens=u["prompt_tokens"], output_tokens=u["completion_tokens"]) if u else None


PLAN = Passthrough(UpstreamRequest("POST", "http://v.test/v1/chat/completions", stream=True), usage=reader)


def chunk(text: str | None, usage: dict | None = None, spaced: bool = False) -> bytes:
    obj = {"id": "c", "choices": [] if text is None else [{"index": 0, "delta": {"content": text}}],
           "usage": usage}
    raw = orjson.dumps(obj)
    if spaced:  # some vendors' JSON has spaces after the colons
        raw = raw.replace(b'":', b'": ')
    return b"data: " + raw + b"\n\n"


def usage(i: int, o: int) -> dict:
    return {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}


DONE = b"data: [DONE]\n\n"


@pytest.mark.parametrize("read, expected", [
    (b"".join(chunk(w) for w in "abc") + chunk(None, usage(5, 3)) + DONE, (5, 3)),
    (b"".join(chunk(w) for w in "abc"), None),                                   # only "usage":null
    (chunk("a", usage(1, 1)) + chunk("b") + DONE, (1, 1)),                       # a null after the usage
    (chunk("a", usage(1, 1)) + chunk("b", usage(1, 2)) + chunk("c"), (1, 2)),    # the last one counts
    (chunk("a", spaced=True) + chunk(None, usage(7, 2), spaced=True) + DONE, (7, 2)),
    (chunk(None, usage(4, 4)), (4, 4)),                                          # the only event
    (b": keep-alive\n\n" + chunk(None, usage(2, 9)) + b"data: [DONE]\n\n", (2, 9)),
])
@pytest.mark.parametrize("exact", [True, False])
def test_last_usage_of_a_read(read: bytes, expected: tuple[int, int] | None, exact: bool) -> None:
    found = _last_usage(read, PLAN, exact)
    assert (None if found is None else (found.input_tokens, found.output_tokens)) == expected
    # The same answer as decoding every event front to back.
    full = _inspect_events(read, PLAN)[1]
    assert found == full


def test_an_unusual_spelling_is_found_in_the_last_read() -> None:
    # `"usage" : {` is neither needle: a read in the middle of the stream skips it (cheaply),
    # the stream's last read steps through every marker and still finds it.
    read = chunk("a") + chunk(None, usage(6, 1)).replace(b'"usage":', b'"usage" : ') + DONE
    assert _last_usage(read, PLAN, exact=False) is None
    found = _last_usage(read, PLAN)
    assert found is not None and (found.input_tokens, found.output_tokens) == (6, 1)
