"""Models DashScope serves only as streams, answered to non-streaming clients by joining.

The Qwen-Omni family, QwQ and QVQ refuse `stream: false` ("This model only support stream
mode"), and the open-weight Qwen3 models refuse it while thinking. A client that did not ask
for a stream still gets one `chat.completion`: we ask DashScope for a stream (with usage),
read it whole, and join its chunks: text, reasoning, tool calls by index, and omni audio
(base64 pieces decoded and re-encoded as one).
"""

from __future__ import annotations

import base64
import fnmatch
import re
from functools import lru_cache
from typing import Any

import orjson

from relayport.model.chat import ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.wire import openai_chat
from relayport.wire.sse import DONE, payloads
from relayport_dashscope.errors import error_from_event

ALWAYS_STREAMING = ("*omni*", "qwq*", "qvq*")
# Open-weight Qwen3 (qwen3-8b, qwen3-235b-a22b, qwen3-next-80b-a3b-thinking...): stream-only
# while thinking, which they do by default; their -instruct variants never think.
_OPEN_QWEN3 = re.compile(r"^qwen3-(?:vl-|next-)?\d+b")


def stream_only(model: str, options: Any, thinking: bool | None) -> bool:
    forced = options.get("stream_only") if options else None
    if forced is not None:
        return bool(forced)
    family = _family(model)
    return family == "always" or (family == "thinking" and thinking is not False)


@lru_cache(maxsize=1024)  # asked on every non-streaming call: decided once per model name
def _family(model: str) -> str:
    name = model.lower()
    if any(fnmatch.fnmatchcase(name, p) for p in ALWAYS_STREAMING):
        return "always"
    if _OPEN_QWEN3.match(name) and "instruct" not in name:
        return "thinking"  # stream-only while thinking
    return ""


def stream_body(body: dict[str, Any]) -> None:
    """Switch streaming (with usage in the stream) on in a request body."""
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}


def is_stream(response: UpstreamResponse) -> bool:
    ctype = response.headers.get("Content-Type", "")
    return ctype.startswith("text/event-stream") or response.body.lstrip()[:5] == b"data:"


class _Choice:
    __slots__ = ("content", "reasoning", "calls", "audio", "transcript", "audio_meta", "finish")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.audio: list[bytes] = []
        self.transcript: list[str] = []
        self.audio_meta: dict[str, Any] = {}
        self.finish: str | None = None

    def add(self, delta: dict[str, Any]) -> None:
        if delta.get("content"):
            self.content.append(delta["content"])
        if delta.get("reasoning_content"):
            self.reasoning.append(delta["reasoning_content"])
        for call in delta.get("tool_calls") or ():
            slot = self.calls.setdefault(int(call.get("index", 0)), {
                "id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            if call.get("id"):
                slot["id"] = call["id"]
            fn = call.get("function") or {}
            if fn.get("name"):
                slot["function"]["name"] = fn["name"]
            if fn.get("arguments"):
                slot["function"]["arguments"] += fn["arguments"]
        audio = delta.get("audio")
        if isinstance(audio, dict):
            if audio.get("data"):
                self.audio.append(base64.b64decode(audio["data"]))
            if audio.get("transcript"):
                self.transcript.append(audio["transcript"])
            for key in ("id", "expires_at"):
                if audio.get(key) is not None:
                    self.audio_meta[key] = audio[key]

    def message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.reasoning:
            msg["reasoning_content"] = "".join(self.reasoning)
        if self.calls:
            msg["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        if self.audio or self.transcript:
            msg["audio"] = {**self.audio_meta, "data": base64.b64encode(b"".join(self.audio)).decode(),
                            "transcript": "".join(self.transcript)}
        return msg


def join(body: bytes) -> ChatResponse:
    """One chat completion from a whole compatible-mode stream."""
    head: dict[str, Any] = {}
    choices: dict[int, _Choice] = {}
    usage: dict[str, Any] | None = None
    done = False
    text = body.replace(b"\r\n", b"\n").strip(b"\n") + b"\n\n"
    for data in payloads(text):
        if data == DONE:
            done = True
            break
        if not data:
            continue
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "dashscope: the vendor sent a stream event that is not JSON.") from None
        if not isinstance(obj, dict):
            continue
        if "error" in obj and not obj.get("choices"):
            raise error_from_event(obj)
        if not head:
            head = {k: obj.get(k) for k in ("id", "model", "created", "system_fingerprint")}
        for c in obj.get("choices") or ():
            choice = choices.setdefault(int(c.get("index", 0)), _Choice())
            choice.add(c.get("delta") or {})
            finish = c.get("finish_reason")
            if finish and finish != "null":  # the native spelling of "not yet"
                choice.finish = finish
        if isinstance(obj.get("usage"), dict):
            usage = obj["usage"]
    if not done and not any(c.finish for c in choices.values()):
        raise GatewayError(502, "dashscope: the vendor closed the stream before it finished.")
    completion: dict[str, Any] = {
        **{k: v for k, v in head.items() if v is not None},
        "object": "chat.completion",
        "choices": [
            {"index": i, "message": c.message(), "finish_reason": c.finish or "stop"}
            for i, c in sorted(choices.items())
        ],
    }
    if usage is not None:
        completion["usage"] = usage
    return openai_chat.decode_response(completion)
