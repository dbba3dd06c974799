"""Gemini `streamGenerateContent?alt=sse` -> canonical stream events.

Every event is a whole `GenerateContentResponse` with only the new parts; there is no end
sentinel: the chunk with `finishReason` (which also carries the final usage) is the end.
The hot path is a chunk with one text part. `feed_sse` first joins a read's run of such
chunks into one (`relayport.wire.runs.FieldRuns`: consecutive chunks that differ only in
the text's string; chunks whose usage or layout changes are left alone), then decodes what
is left with one parser call; a read's consecutive text parts become one `TextDelta`.
Function calls arrive whole, so each is one tool-call delta with its complete arguments.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model.errors import GatewayError
from relayport.model.stream import (
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.wire.runs import FieldRuns
from relayport.wire.sse import SSEEvent, payloads
from relayport_gemini import errors, vocab
from relayport_gemini.response import blocked, call_id
from relayport_gemini.usage import decode_usage

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class GeminiStreamParser:
    framing = "sse"

    def __init__(self, model: str = "") -> None:
        self._model = model
        self._done = False
        self._started = False
        self._calls = 0
        self._usage: dict[str, Any] | None = None
        self._runs = FieldRuns("text")

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        return self._feed_payloads([event.data])

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        return self._feed_payloads(payloads(self._runs.merge(data)))

    def _load_all(self, datas: list[bytes]) -> list[Any]:
        datas = [d for d in datas if d]
        if not datas:
            return []
        if len(datas) == 1:
            return [self._load(datas[0])]
        try:
            objs = _loads(b"[" + b",".join(datas) + b"]")
            if len(objs) == len(datas):
                return objs  # type: ignore[no-any-return]
        except _JSONDecodeError:
            pass
        return [self._load(d) for d in datas]

    @staticmethod
    def _load(data: bytes) -> Any:
        try:
            return _loads(data)
        except _JSONDecodeError:
            raise GatewayError(502, "gemini: the vendor sent a stream event that is not JSON.") from None

    def _feed_payloads(self, datas: list[bytes]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        texts: list[str] = []
        for obj in self._load_all(datas):
            if type(obj) is not dict:
                continue
            if not self._started:
                self._started = True
                out.append(StreamStart(str(obj.get("responseId") or ""), str(obj.get("modelVersion") or self._model)))
            usage = obj.get("usageMetadata")
            if usage is not None:
                self._usage = usage
            candidates = obj.get("candidates")
            if not candidates:
                if "error" in obj:
                    return self._flush(out, texts) + [StreamError(errors.from_error_object(obj["error"], 500))]
                err = blocked(obj.get("promptFeedback"))
                if err is not None:
                    self._done = True
                    return self._flush(out, texts) + [StreamError(err)]
                continue
            cand = candidates[0]
            content = cand.get("content")
            parts = content.get("parts") if content else None
            for p in parts or ():
                # The hot path: a plain text part.
                if len(p) == 1 and "text" in p:
                    text = p["text"]
                    if text:
                        texts.append(text)
                    continue
                if texts:
                    out.append(TextDelta("".join(texts)))
                    texts = []
                self._part(p, out)
            raw = cand.get("finishReason")
            if raw:
                self._flush(out, texts)
                texts = []
                if self._usage is not None:
                    out.append(UsageUpdate(decode_usage(self._usage)))
                out.append(Finish(vocab.finish_reason(raw, self._calls > 0), raw))
                self._done = True
                return out
        return self._flush(out, texts)

    @staticmethod
    def _flush(out: list[StreamEvent], texts: list[str]) -> list[StreamEvent]:
        if texts:
            out.append(TextDelta("".join(texts)))
        return out

    def _part(self, p: dict[str, Any], out: list[StreamEvent]) -> None:
        sig = p.get("thoughtSignature")
        text = p.get("text")
        if p.get("thought"):
            if text:
                out.append(ReasoningDelta(text))
            if sig:
                out.append(ReasoningSignature(sig))
            return
        if sig:
            # Signs the part it rides on (a call, or the answer's text): it closes the reasoning
            # before that part, which is where the replay puts it back.
            out.append(ReasoningSignature(sig))
        if text:
            out.append(TextDelta(text))
            return
        fc = p.get("functionCall")
        if isinstance(fc, dict):
            args = fc.get("args")
            out.append(ToolCallDelta(self._calls, call_id(fc), str(fc.get("name") or ""),
                                     orjson.dumps(args if args is not None else {}).decode()))
            self._calls += 1

    def close(self) -> list[StreamEvent]:
        if not self._done:
            raise GatewayError(502, "gemini: the vendor closed the stream before it finished.")
        return []
