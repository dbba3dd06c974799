"""Bodies in DashScope's native form (`input` + `parameters`) go to the native API and come back native."""

from __future__ import annotations

import httpx
import orjson
from ds_fixtures import client, dashscope_fixture, ds_gateway_fixture  # noqa: F401  (fixtures)

from relayport.testing import openapi
from relayport_dashscope.testing import MULTIMODAL, TEXT

VIDEO_TURN = [
    {"role": "system", "content": [{"text": "You are a helpful assistant."}]},
    {"role": "user", "content": [{"video": "https://example.com/v.mp4", "fps": 2}, {"text": "what is this?"}]},
]


def _post(gw, body):
    return httpx.post(gw.openai_base_url + "/chat/completions", json=body, timeout=10)


def test_native_multimodal_body_goes_to_the_multimodal_endpoint_and_comes_back_native(dashscope, ds_gateway):
    gw = ds_gateway("qwen-vl-max-latest")
    r = _post(gw, {"model": "qwen-vl-max-latest", "input": {"messages": VIDEO_TURN},
                   "parameters": {"temperature": 0.5}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["output"]["choices"][0]["message"]["content"] == [{"text": "echo: what is this?"}]
    assert out["usage"]["video_tokens"] == 20 and out["request_id"]
    assert dashscope.last.path == MULTIMODAL
    sent = dashscope.last.json()
    assert sent == {"model": "qwen-vl-max-latest", "input": {"messages": VIDEO_TURN},
                    "parameters": {"temperature": 0.5}}
    assert dashscope.last.headers["authorization"] == f"Bearer {dashscope.api_key}"
    assert "x-dashscope-sse" not in dashscope.last.headers


def test_native_text_body_uses_the_text_endpoint(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    r = _post(gw, {"model": "qwen-plus", "input": {"messages": [{"role": "user", "content": "hi"}]},
                   "parameters": {"result_format": "message"}})
    assert r.status_code == 200, r.text
    assert r.json()["output"]["choices"][0]["message"]["content"] == "echo: hi"
    assert dashscope.last.path == TEXT


def test_native_stream_passes_through_in_dashscope_framing(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("one two three")
    body = {"model": "qwen-plus", "stream": True, "input": {"messages": [{"role": "user", "content": "count"}]},
            "parameters": {"incremental_output": True}}
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", json=body, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    assert dashscope.last.headers["x-dashscope-sse"] == "enable"
    assert "stream" not in dashscope.last.json()
    datas = [orjson.loads(line[5:]) for line in raw.split(b"\n") if line.startswith(b"data:")]
    assert b"event:result" in raw and b"[DONE]" not in raw
    assert "".join(d["output"]["choices"][0]["message"]["content"] for d in datas) == "one two three"
    assert [d["output"]["choices"][0]["finish_reason"] for d in datas] == ["null", "null", "stop"]


def test_native_error_in_a_200_stream_reaches_the_native_client(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.queue_text("partial", error="data_inspection_failed")
    body = {"model": "qwen-plus", "stream": True, "input": {"messages": [{"role": "user", "content": "x"}]}}
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", json=body, timeout=10) as r:
        raw = r.read()
    assert b"event:error" in raw and b"DataInspectionFailed" in raw


def test_native_error_answers_in_the_openai_envelope_with_its_status(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    dashscope.push(dashscope.business_error("data_inspection_failed", native=True))
    r = _post(gw, {"model": "qwen-plus", "input": {"messages": [{"role": "user", "content": "x"}]}})
    assert r.status_code == 400
    openapi.validate_error(r.json())
    assert r.json()["error"]["code"] == "content_filter"


def test_bad_native_bodies_are_clear_400s(dashscope, ds_gateway):
    gw = ds_gateway("qwen-plus")
    for body, param in [
        ({"model": "qwen-plus", "input": "hi"}, "input"),
        ({"model": "qwen-plus", "input": {"messages": []}}, "input.messages"),
        ({"model": "qwen-plus", "input": {"messages": ["hi"]}}, "input.messages[0]"),
        ({"model": "qwen-plus", "input": {"messages": [{"role": "user", "content": "x"}]}, "parameters": 3},
         "parameters"),
    ]:
        r = _post(gw, body)
        assert r.status_code == 400, body
        openapi.validate_error(r.json())
        assert r.json()["error"]["param"] == param
    assert dashscope.requests == []


def test_openai_body_without_messages_is_still_refused(ds_gateway):
    gw = ds_gateway("qwen-plus")
    r = _post(gw, {"model": "qwen-plus"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
