"""The Qwen examples of the seed documents (002, 003 7.1.1, 000 qwen3.5, 001 omni), replayed.

`data/seed_examples.json` holds our copies of each request and, where the seed shows one, the
response the service gave. The fake answers with that response's content, reasoning and usage;
the client must get the seed's shape back: the OpenAI form (checked against OpenAI's schema)
for OpenAI bodies, and the native form for the native body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from ds_fixtures import dashscope_fixture, ds_gateway_fixture  # noqa: F401  (fixtures)

from relayport.testing import openapi
from relayport.testing.fakes import Reply
from relayport_dashscope.testing import COMPAT, MULTIMODAL

SEEDS = json.loads((Path(__file__).parent / "data" / "seed_examples.json").read_text("utf-8"))


def _script(dashscope, seed: dict[str, Any]) -> None:
    resp = seed["response"]
    if resp is None:
        return
    if "output" in resp:
        dashscope.push(Reply.json(resp))
        return
    msg = resp["choices"][0]["message"]
    dashscope.queue_text(msg.get("content") or "", reasoning=msg.get("reasoning_content") or None,
                         usage=resp["usage"])


def _stream_body(raw: bytes) -> dict[str, Any]:
    datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert datas[-1] == b"[DONE]"
    chunks = [orjson.loads(d) for d in datas[:-1]]
    for chunk in chunks:
        openapi.validate_chat_chunk(chunk)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    return {"text": text, "finish": finish}


@pytest.mark.parametrize("seed", SEEDS, ids=[s["name"] for s in SEEDS])
def test_seed_example(dashscope, ds_gateway, seed):
    req = seed["request"]
    gw = ds_gateway(req["model"])
    _script(dashscope, seed)
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=req, timeout=20)
    assert r.status_code == 200, r.text
    sent = dashscope.last.json()
    assert sent["model"] == req["model"]
    expected = seed["response"]
    if "input" in req:  # the native form: native endpoint, native answer, untouched
        assert dashscope.last.path == MULTIMODAL
        assert sent["input"] == req["input"]
        assert r.json() == expected
        return
    assert dashscope.last.path == COMPAT
    if req.get("stream"):
        got = _stream_body(r.content)
        assert got["text"] == "echo: 你好" and got["finish"] == ["stop"]
        return
    body = r.json()
    openapi.validate_chat_completion(body)
    message = body["choices"][0]["message"]
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] == "stop"
    # Everything the seed's client relied on arrives: the same messages and extras upstream,
    for key, value in req.items():
        if key not in ("model", "stream", "messages", "thinking"):
            assert sent[key] == value, key
    assert sent["messages"] == req["messages"]
    if expected is None:
        assert message["content"]
        return
    # and the same answer, reasoning and usage details downstream.
    want = expected["choices"][0]["message"]
    assert message["content"] == want["content"]
    if want.get("reasoning_content"):
        assert message["reasoning_content"] == want["reasoning_content"]
    for key, value in expected["usage"].items():
        if isinstance(value, dict):  # token details: every one the seed shows is kept
            assert body["usage"][key].items() >= value.items(), key
        else:
            assert body["usage"][key] == value, key


def test_seed_qwen_mt_and_omni_specifics(dashscope, ds_gateway):
    by_name = {s["name"]: s for s in SEEDS}
    gw = ds_gateway("qwen-mt-turbo", "qwen2.5-omni-7b")
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=by_name["002 qwen-mt"]["request"], timeout=20)
    assert r.json()["choices"][0]["message"]["content"] == "[Chinese->English] 你好"
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=by_name["001 omni video"]["request"], timeout=20)
    assert r.status_code == 200, r.text
    sent = dashscope.last.json()
    # seed 001 asks with `thinking: {type: enabled}`: DashScope's own switch goes up instead.
    assert sent["enable_thinking"] is True and "thinking" not in sent
    assert sent["stream"] is True
