"""Reading a chat stream through a running gateway as a client does, for plugin tests.

    from relayport.testing.chat import finishes, stream_chat, text_of

    stream = stream_chat(gateway, {"model": "m", "messages": [...]})
    assert text_of(stream.chunks) == "hello" and finishes(stream.chunks) == ["stop"]

Every chunk is checked against OpenAI's published schema on the way, and the stream must end
with `data: [DONE]`; an in-band error event (the gateway's error envelope) is kept as it came.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import httpx
import orjson

from relayport.testing import openapi
from relayport.testing.servers import GatewayHandle


class ChatStream(NamedTuple):
    headers: httpx.Headers
    chunks: list[dict[str, Any]]
    raw: bytes


def stream_chat(gateway: GatewayHandle, body: dict[str, Any], key: str | None = None, *,
                done: bool = True) -> ChatStream:
    """POST a streamed chat completion (`stream: true` is added) with the gateway's key (or
    `key`); `done=False` for a stream that may end without `[DONE]` (a broken one)."""
    headers = {"Authorization": f"Bearer {key or gateway.key}"}
    with httpx.stream("POST", gateway.openai_base_url + "/chat/completions", json={**body, "stream": True},
                      headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    if done:
        assert datas and datas[-1] == b"[DONE]", raw[-300:]
    chunks = [orjson.loads(d) for d in datas if d != b"[DONE]"]
    for chunk in chunks:
        if "error" not in chunk:
            openapi.validate_chat_chunk(chunk)
    return ChatStream(r.headers, chunks, raw)


def text_of(chunks: list[dict[str, Any]], field: str = "content") -> str:
    """The streamed text of the first choice (`field="reasoning_content"` for the reasoning)."""
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c.get("choices"))


def finishes(chunks: list[dict[str, Any]]) -> list[str]:
    """The finish reasons the stream carried, in order (one, for a well-formed stream)."""
    return [c["choices"][0]["finish_reason"] for c in chunks
            if c.get("choices") and c["choices"][0].get("finish_reason")]
