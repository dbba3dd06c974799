"""MiniMax's two ways of returning reasoning, both turned into `reasoning_content`.

- By default the M-series put their thinking at the start of `content` as `<think>...</think>`;
  streamed, a tag can be cut anywhere between two chunks.
- With `reasoning_split: true` it comes in `reasoning_details: [{"type": "reasoning.text",
  "text": ...}]`. MiniMax's docs show streamed `text` as cumulative, users report it as
  incremental (MiniMax-AI/MiniMax-M2#95); `DetailsText` takes either.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

OPEN, CLOSE = "<think>", "</think>"

_BEFORE, _INSIDE, _AFTER = 0, 1, 2


class ThinkSplitter:
    """Splits a leading `<think>` block off streamed content: `feed(text) -> (reasoning, content)`.

    Text that might be the start of a tag is held back until the next piece decides it. Once
    the block is over (or the answer began without one) every piece passes straight through.
    """

    __slots__ = ("_state", "_held", "_lead", "_trim")

    def __init__(self) -> None:
        self._state = _BEFORE
        self._held = ""
        # The newlines MiniMax writes after `<think>`, before `</think>` and after it belong
        # to neither the reasoning nor the answer.
        self._lead = False
        self._trim = False

    def feed(self, text: str) -> tuple[str, str]:
        if self._state == _AFTER:
            if self._trim:
                text = text.lstrip("\n")
                self._trim = not text
            return "", text
        text = self._held + text
        self._held = ""
        if self._state == _BEFORE:
            stripped = text.lstrip()
            if stripped.startswith(OPEN):
                self._state = _INSIDE
                self._lead = True
                text = stripped[len(OPEN):]
            elif OPEN.startswith(stripped):  # blank so far, or an open tag cut short
                self._held = text
                return "", ""
            else:
                self._state = _AFTER
                return "", text
        if self._lead:
            text = text.lstrip("\n")
            self._lead = not text
        at = text.find(CLOSE)
        if at >= 0:
            self._state = _AFTER
            self._trim = True
            return text[:at].rstrip("\n"), self.feed(text[at + len(CLOSE):])[1]
        keep = _tag_prefix_length(text, CLOSE)
        reasoning = text[: len(text) - keep].rstrip("\n")
        self._held = text[len(reasoning):]  # a possible `</think>` and the newlines before it
        return reasoning, ""

    def flush(self) -> tuple[str, str]:
        """What is still held when the stream ends: reasoning cut off, or a short answer."""
        held, self._held = self._held, ""
        if self._state == _INSIDE:
            return held.rstrip("\n"), ""
        return "", held

    @property
    def passing(self) -> bool:
        """True once every further piece is plain content."""
        return self._state == _AFTER and not self._trim


def _tag_prefix_length(text: str, tag: str) -> int:
    """How many trailing characters of `text` could be the beginning of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def split_think(content: str) -> tuple[str | None, str]:
    """(reasoning, answer) of a whole message's content; reasoning None without a block."""
    if OPEN not in content:
        return None, content
    splitter = ThinkSplitter()
    reasoning, answer = splitter.feed(content)
    more_reasoning, more_answer = splitter.flush()
    return reasoning + more_reasoning, answer + more_answer


def details_text(details: Any) -> str:
    if not isinstance(details, Iterable) or isinstance(details, (str, bytes, dict)):
        return ""
    return "".join(d.get("text") or "" for d in details if isinstance(d, dict))


class DetailsText:
    """The new reasoning text of each streamed `reasoning_details`, cumulative or incremental."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen = ""

    def take(self, details: Any) -> str:
        text = details_text(details)
        seen = self._seen
        new = text[len(seen):] if seen and text.startswith(seen) else text
        self._seen = seen + new
        return new


def fix_message(msg: dict[str, Any]) -> None:
    """A whole MiniMax message in OpenAI's shape: reasoning in `reasoning_content`."""
    reasoning = details_text(msg.pop("reasoning_details", None))
    content = msg.get("content")
    if isinstance(content, str) and OPEN in content:
        tagged, msg["content"] = split_think(content)
        reasoning += tagged or ""
    if reasoning and not msg.get("reasoning_content"):
        msg["reasoning_content"] = reasoning
    # Constant decorations of MiniMax messages that OpenAI clients have no use for.
    if msg.get("name") == "MiniMax AI":
        del msg["name"]
    if not msg.get("audio_content"):
        msg.pop("audio_content", None)


def history_reasoning(message: dict[str, Any], split: bool) -> None:
    """An assistant turn's `reasoning_content` sent back the way MiniMax wants its reasoning
    replayed (its docs: the whole assistant message, thinking included, or the chain breaks)."""
    text = message.pop("reasoning_content", None)
    if not text:
        return
    if split:
        message["reasoning_details"] = [{"type": "reasoning.text", "text": text}]
        return
    block = f"{OPEN}\n{text}\n{CLOSE}\n\n"
    content = message.get("content")
    if isinstance(content, list):
        message["content"] = [{"type": "text", "text": block}, *content]
    else:
        message["content"] = block + (content or "")
