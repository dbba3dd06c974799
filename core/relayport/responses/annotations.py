"""The vendor's own citations on a translated Responses answer.

Plugins put a vendor's web citations on the canonical message as Chat Completions annotations
(`message.extra["annotations"]`: `{"type": "url_citation", "url_citation": {start_index,
end_index, url, title}}`, indexes over the message's whole text): Claude's web search
citations, OpenAI-compatible vendors that send `annotations`. The Responses API carries them
flat on each `output_text` part, with indexes over that part's text, and the text of one
assistant message may be split into several message items (around reasoning and tool calls).
In streams plugins send them as `DeltaExtra({"annotations": [...]})` once the cited text is out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport.model.chat import ChatResponse
from relayport.model.stream import DeltaExtra, StreamEvent


def _flat(note: Any) -> dict[str, Any] | None:
    if not isinstance(note, dict) or note.get("type") != "url_citation":
        return None
    c = note.get("url_citation")
    c = c if isinstance(c, dict) else note  # already flat (a vendor that speaks Responses' shape)
    start, end, url = c.get("start_index"), c.get("end_index"), c.get("url")
    if not isinstance(start, int) or not isinstance(end, int) or not isinstance(url, str):
        return None
    return {"type": "url_citation", "start_index": start, "end_index": end, "url": url,
            "title": str(c.get("title") or "")}


def add_vendor_annotations(obj: dict[str, Any], result: ChatResponse) -> None:
    """Put `result`'s vendor citations on the `output_text` parts of the Response `obj`."""
    choice = result.choices[0] if result.choices else None
    notes = choice.message.extra.get("annotations") if choice is not None else None
    if not isinstance(notes, list) or not notes:
        return
    flat = [n for n in map(_flat, notes) if n is not None]
    offset = 0
    for item in obj.get("output") or ():
        if item.get("type") != "message":
            continue
        for part in item.get("content") or ():
            if part.get("type") != "output_text":
                continue
            size = len(part.get("text") or "")
            mine = [{**n, "start_index": n["start_index"] - offset, "end_index": n["end_index"] - offset}
                    for n in flat if offset <= n["start_index"] and n["end_index"] <= offset + size]
            if mine:
                part["annotations"] = [*part.get("annotations", ()), *mine]
            offset += size


class StreamCitations:
    """The vendor citations of a stream, for `EventEncoder.annotate`: `observe` every batch
    before it is encoded; each message item asks, as it closes, for the citations within its
    text (the items come in order, so their offsets into the message's text add up)."""

    def __init__(self, also: Callable[[str], list[dict[str, Any]]] | None = None) -> None:
        self.also = also  # the gateway's own search citations, when it searched
        self.notes: list[dict[str, Any]] = []
        self.offset = 0

    def observe(self, batch: list[StreamEvent]) -> None:
        for ev in batch:
            if type(ev) is DeltaExtra and "annotations" in ev.fields:
                self.notes.extend(n for n in map(_flat, ev.fields["annotations"] or ()) if n is not None)

    def __call__(self, text: str) -> list[dict[str, Any]]:
        start, end = self.offset, self.offset + len(text)
        self.offset = end
        mine = [{**n, "start_index": n["start_index"] - start, "end_index": n["end_index"] - start}
                for n in self.notes if start <= n["start_index"] and n["end_index"] <= end]
        return [*(self.also(text) if self.also is not None else ()), *mine]
