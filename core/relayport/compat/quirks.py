"""Normalising an OpenAI-compatible vendor's output into what OpenAI clients expect.

One `Normalizer` per call fixes each decoded completion or stream chunk in place: the
reasoning field renamed to `reasoning_content`, usage moved out of a choice to the top level,
finish-reason spellings mapped onto OpenAI's set (the string "null" becomes null), missing
fields filled. Both paths use it: the passthrough's `patch` and the translating parsers.
Vendors without these quirks never build one, so OpenAI and DeepSeek streams stay untouched.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from relayport.ids import random_hex

OPENAI_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})

# Spellings seen across OpenAI-compatible vendors; a plugin's `finish_map` adds to these.
COMMON_FINISH = {
    "max_tokens": "length",
    "model_length": "length",
    "tool_call": "tool_calls",
    "sensitive": "content_filter",
    "network_error": "stop",
    "end_turn": "stop",
    "eos": "stop",
}


class Normalizer:
    """Fixes one call's completion or chunks in place; `fix` returns True when it changed any."""

    __slots__ = ("reasoning_field", "usage_in_choices", "finish_map", "fill_missing", "_id", "_created")

    def __init__(self, reasoning_field: str, usage_in_choices: bool,
                 finish_map: Mapping[str, str] | None, fill_missing: bool) -> None:
        self.reasoning_field = reasoning_field if reasoning_field != "reasoning_content" else None
        self.usage_in_choices = usage_in_choices
        self.finish_map = {**COMMON_FINISH, **finish_map} if finish_map is not None else None
        self.fill_missing = fill_missing
        self._id: str | None = None
        self._created: int | None = None

    def fix(self, obj: dict[str, Any], chunk: bool) -> bool:
        changed = False
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return False
        field = self.reasoning_field
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            msg = choice.get("delta" if chunk else "message")
            if field is not None and isinstance(msg, dict) and field in msg:
                value = msg.pop(field)
                if value is not None or "reasoning_content" not in msg:
                    msg["reasoning_content"] = value
                changed = True
            if chunk and isinstance(msg, dict) and msg.get("role") == "":
                del msg["role"]  # StepFun's open chunks say `role: ""`, outside OpenAI's enum
                changed = True
            if self.usage_in_choices and "usage" in choice:
                usage = choice.pop("usage")
                if isinstance(usage, dict) and not isinstance(obj.get("usage"), dict):
                    obj["usage"] = usage
                changed = True
            if self.finish_map is not None:
                finish = choice.get("finish_reason")
                if finish is not None and finish not in OPENAI_FINISH:
                    choice["finish_reason"] = (None if finish in ("null", "") else
                                               self.finish_map.get(finish, "stop"))
                    changed = True
            if self.fill_missing:
                if "logprobs" not in choice:
                    choice["logprobs"] = None
                    changed = True
                if not chunk and isinstance(msg, dict) and "refusal" not in msg:
                    msg["refusal"] = None
                    changed = True
        if self.fill_missing:
            changed = self._fill_top(obj, chunk) or changed
        return changed

    def _fill_top(self, obj: dict[str, Any], chunk: bool) -> bool:
        changed = False
        if not obj.get("id"):
            if self._id is None:
                self._id = "chatcmpl-" + random_hex(12)
            obj["id"] = self._id
            changed = True
        kind = "chat.completion.chunk" if chunk else "chat.completion"
        if obj.get("object") != kind:
            obj["object"] = kind
            changed = True
        if not isinstance(obj.get("created"), int):
            if self._created is None:
                self._created = int(time.time())
            obj["created"] = self._created
            changed = True
        return changed


class ThinkSplitter:
    """Splits `<think>...</think>` out of streamed content; tags may straddle chunks.

    `feed(text)` returns (reasoning, content) for the text that is certain so far; a suffix
    that could be the start of a tag is held back until the next chunk (or `flush`).
    """

    OPEN, CLOSE = "<think>", "</think>"

    __slots__ = ("_inside", "_held", "_seen", "_after")

    def __init__(self) -> None:
        self._inside = False
        self._held = ""
        self._seen = False  # a think block may only open at the start of the answer
        self._after = False  # just closed: the newline models put after the tag is dropped

    def feed(self, text: str) -> tuple[str, str]:
        text = self._held + text
        self._held = ""
        reasoning: list[str] = []
        content: list[str] = []
        while text:
            if self._inside:
                at = text.find(self.CLOSE)
                if at >= 0:
                    reasoning.append(text[:at])
                    text = text[at + len(self.CLOSE):]
                    self._inside = False
                    self._seen = self._after = True
                    continue
                keep = _partial_suffix(text, self.CLOSE)
                reasoning.append(text[:len(text) - keep])
                self._held = text[len(text) - keep:]
                break
            if self._seen:
                if self._after:
                    self._after = False
                    if text.startswith("\n"):
                        text = text[1:]
                content.append(text)
                break
            stripped = text.lstrip()
            if stripped.startswith(self.OPEN):
                self._inside = True
                text = stripped[len(self.OPEN):]
                continue
            if self.OPEN.startswith(stripped):  # maybe the tag, not complete yet
                self._held = text
                break
            self._seen = True
            content.append(text)
            break
        return "".join(reasoning), "".join(content)

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        return (held, "") if self._inside else ("", held)


def split_think(text: str) -> tuple[str | None, str]:
    """(reasoning, content) of a whole message."""
    splitter = ThinkSplitter()
    r1, c1 = splitter.feed(text)
    r2, c2 = splitter.flush()
    reasoning = r1 + r2
    return (reasoning if reasoning or splitter._inside or "<think>" in text else None), c1 + c2


def _partial_suffix(text: str, tag: str) -> int:
    """How many trailing characters of `text` could begin `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0
