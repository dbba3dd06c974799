"""The plugin's pure pieces: hosts, which models only stream, joining a stream."""

from __future__ import annotations

import pytest

from relayport.model.errors import GatewayError
from relayport.provider import Deployment
from relayport_dashscope import DASHSCOPE, joined, models, native
from relayport_dashscope.hosts import compat_url, host_root, native_url


def _dep(base_url: str = DASHSCOPE.base_url, **options) -> Deployment:
    return Deployment("m", DASHSCOPE, "qwen-plus", base_url, None, None, options=options)


@pytest.mark.parametrize("base", [
    "https://dashscope.aliyuncs.com", "https://dashscope.aliyuncs.com/",
    "https://dashscope.aliyuncs.com/compatible-mode/v1", "https://dashscope.aliyuncs.com/api/v1/",
])
def test_every_base_url_form_gives_both_roots(base):
    dep = _dep(base)
    assert compat_url(dep) == "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"
    assert native_url(dep, "/x") == "https://dashscope.aliyuncs.com/api/v1/x"


def test_a_proxy_prefix_is_kept():
    assert host_root("https://proxy.example/ds/compatible-mode/v1") == "https://proxy.example/ds"


def test_region_picks_the_host_only_without_a_configured_base_url():
    assert compat_url(_dep(region="intl")).startswith("https://dashscope-intl.aliyuncs.com/compatible-mode/v1")
    assert native_url(_dep(region="us"), "/y") == "https://dashscope-us.aliyuncs.com/api/v1/y"
    assert compat_url(_dep("https://mirror.example", region="intl")).startswith("https://mirror.example/")
    with pytest.raises(GatewayError) as info:
        compat_url(_dep(region="mars"))
    assert "mars" in info.value.message


@pytest.mark.parametrize(("model", "thinking", "expected"), [
    ("qwen-omni-turbo", None, True), ("qwen3-omni-flash-2025-12-01", False, True),
    ("qwq-plus", None, True), ("qvq-max", None, True),
    ("qwen3-8b", None, True), ("qwen3-235b-a22b", True, True), ("qwen3-235b-a22b", False, False),
    ("qwen3-235b-a22b-instruct-2507", None, False), ("qwen-plus", True, False), ("qwen3-max", None, False),
])
def test_which_models_only_stream(model, thinking, expected):
    assert joined.stream_only(model, {}, thinking) is expected


def test_stream_only_is_overridable_per_model():
    assert joined.stream_only("qwen-plus", {"stream_only": True}, None) is True
    assert joined.stream_only("qwq-plus", {"stream_only": False}, None) is False


def _sse(*objs: bytes) -> bytes:
    return b"".join(b"data: " + o + b"\n\n" for o in objs)


def test_join_collects_text_reasoning_calls_and_usage():
    body = _sse(
        b'{"id":"c1","model":"qwq-plus","created":5,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
        b'{"id":"c1","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"hm"},"finish_reason":null}]}',
        b'{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\\"a\\""}}]},"finish_reason":null}]}',
        b'{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"","type":"function","function":{"arguments":":1}"}}]},"finish_reason":"null"}]}',
        b'{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
        b'{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}',
        b"[DONE]",
    )
    resp = joined.join(body)
    choice = resp.choices[0]
    assert (resp.id, resp.model, resp.created) == ("c1", "qwq-plus", 5)
    assert choice.finish_reason == "tool_calls"
    assert choice.message.reasoning() == "hm"
    call = choice.message.tool_calls()[0]
    assert (call.id, call.name, call.arguments) == ("call_1", "f", '{"a":1}')
    assert resp.usage is not None and resp.usage.output_tokens == 4


def test_join_refuses_a_stream_cut_short():
    with pytest.raises(GatewayError) as info:
        joined.join(_sse(b'{"id":"c","choices":[{"index":0,"delta":{"content":"half"},"finish_reason":null}]}'))
    assert info.value.status == 502


@pytest.mark.parametrize(("model", "expected"), [
    ("qwen-plus", True), ("qwen3-max", True), ("qwen-turbo-latest", True), ("qwen3.6-flash", True),
    ("qwen-vl-max", False), ("qwen2.5-14b-instruct", False), ("qwen-long", False), ("qwen-mt-turbo", False),
    ("qwen3-8b", False), ("qwen3-omni-flash", False), ("qwen3-coder-plus", False),
])
def test_which_models_search(model, expected):
    assert models.searches(model, {}) is expected
    assert models.searches(model, {"search": not expected}) is (not expected)


def test_native_usage_is_read_for_accounting():
    usage = native.usage_of({"usage": {"input_tokens": 5207, "output_tokens": 110, "video_tokens": 5182,
                                       "prompt_tokens_details": {"cached_tokens": 64},
                                       "output_tokens_details": {"reasoning_tokens": 30}}})
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.reasoning_tokens,
            usage.input_video_tokens) == (5207, 110, 64, 30, 5182)
    assert native.usage_of({"output": {}}) is None


@pytest.mark.parametrize(("model", "content", "options", "expected"), [
    ("qwen-plus", "hi", {}, native.TEXT_GENERATION),
    ("qwen-plus", [{"image": "https://x/a.png"}, {"text": "?"}], {}, native.MULTIMODAL_GENERATION),
    ("qwen-vl-max", [{"text": "hi"}], {}, native.MULTIMODAL_GENERATION),
    ("qwen3.5-plus", "hi", {}, native.MULTIMODAL_GENERATION),
    ("qwen-omni-turbo", "hi", {}, native.MULTIMODAL_GENERATION),
    ("my-finetune", "hi", {"native_endpoint": "multimodal"}, native.MULTIMODAL_GENERATION),
])
def test_native_endpoint_choice(model, content, options, expected):
    assert native.endpoint(model, [{"role": "user", "content": content}], options) == expected
