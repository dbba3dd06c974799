"""One read's run of Anthropic text deltas joined into one event, before any JSON is decoded.

Between two text deltas of block N, Anthropic's bytes are always the same: the end of one
event and the head of the next,

    "}}  blank line  event: content_block_delta
    data: {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"

so the separator is known once N is; the core's `join_runs` cuts it out where that is safe.
"""

from __future__ import annotations

from relayport.wire.runs import join_runs

_TEXT_AT = b',"delta":{"type":"text_delta","text":"'
_INDEX = b'"index":'


class TextRuns:
    """Per stream: remembers the separator of the text block being streamed."""

    __slots__ = ("_index", "_head", "_sep")

    def __init__(self) -> None:
        self._index = b""
        self._head = b""
        self._sep = b""

    def merge(self, data: bytes) -> bytes:
        """`data` (whole SSE events, LF line ends) with each run of text deltas of one block
        as one event; `data` itself when there is nothing to join or anything looks unusual."""
        at = data.find(_TEXT_AT)
        if at < 0:
            return data
        i = data.rfind(_INDEX, 0, at)
        if i < 0:
            return data
        index = data[i + len(_INDEX):at]
        if not index.isdigit():
            return data
        if index != self._index:
            self._index = index
            self._head = b'data: {"type":"content_block_delta","index":' + index + _TEXT_AT
            self._sep = b'"}}\n\nevent: content_block_delta\n' + self._head
        return join_runs(data, self._head, self._sep)
