"""The hook implementations: registration, and answering only for Anthropic deployments."""

from __future__ import annotations

import orjson
from anthropic_helpers import deployment

from relayport.model.chat import ChatRequest, Message
from relayport.model.content import TextBlock
from relayport.model.http import UpstreamResponse
from relayport.plugins import load_plugins
from relayport.provider import OPENAI_CHAT, ProviderSpec
from relayport_anthropic import plugin
from relayport_anthropic.passthrough import COUNT_TOKENS, MESSAGES, usage_reader
from relayport_anthropic.stream import AnthropicStreamParser


def test_registers_the_provider_and_the_messages_surface() -> None:
    plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": "anthropic"})
    assert not plugins.failures
    entry = plugins.provider("anthropic")
    assert entry is not None and entry.spec is plugin.SPEC and entry.plugin == "anthropic"
    assert plugin.SPEC.auth == "x-api-key" and plugin.SPEC.key_env == ("ANTHROPIC_API_KEY",)
    [surface] = plugins.surfaces
    assert surface.name == MESSAGES
    assert sorted((r.method, r.path) for r in surface.routes) == [
        ("GET", "/v1/models"), ("GET", "/v1/models/{model:.+}"),
        ("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens")]
    assert surface.claims is not None  # the shared model routes are answered for Anthropic clients only


def test_hooks_answer_only_for_anthropic_deployments() -> None:
    other = deployment()
    other.provider = ProviderSpec(name="someone-else", base_url="https://x")
    req = ChatRequest("m", [Message("user", [TextBlock("hi")])])
    resp = UpstreamResponse(200, {}, b"{}")
    assert plugin.relayport_translate_request(deployment=other, request=req) is None
    assert plugin.relayport_parse_response(deployment=other, request=req, response=resp) is None
    assert plugin.relayport_map_error(deployment=other, response=resp) is None
    assert plugin.relayport_stream_parser(deployment=other, request=req) is None
    assert plugin.relayport_passthrough(deployment=other, surface=MESSAGES, body={}, headers={}) is None
    mine = deployment()
    assert plugin.relayport_translate_request(deployment=mine, request=req) is not None
    assert isinstance(plugin.relayport_stream_parser(deployment=mine, request=req), AnthropicStreamParser)
    # OpenAI clients are translated, never passed through.
    assert plugin.relayport_passthrough(deployment=mine, surface=OPENAI_CHAT, body={}, headers={}) is None


def test_passthrough_plan() -> None:
    body = {"model": "alias", "max_tokens": 5, "stream": True, "messages": []}
    plan = plugin.relayport_passthrough(deployment=deployment(), surface=MESSAGES, body=body,
                                        headers={"anthropic-beta": "a,b", "anthropic-version": "2024-01-01"})
    assert plan is not None and plan.request.stream
    assert plan.request.url == "https://api.anthropic.com/v1/messages"
    assert orjson.loads(plan.request.body or b"")["model"] == "claude-sonnet-4-5"
    h = plan.request.headers
    assert (h["x-api-key"], h["anthropic-version"], h["anthropic-beta"]) == ("sk-ant-test", "2024-01-01", "a,b")
    count = plugin.relayport_passthrough(deployment=deployment(), surface=COUNT_TOKENS,
                                         body={"model": "alias", "stream": True, "messages": []}, headers={})
    assert count is not None and count.request.url.endswith("/v1/messages/count_tokens")
    assert "stream" not in orjson.loads(count.request.body or b"") and not count.request.stream


def test_passthrough_usage_accounting_merges_start_and_delta() -> None:
    read = usage_reader()
    read({"type": "message_start", "message": {"usage": {"input_tokens": 3, "cache_read_input_tokens": 40,
                                                         "output_tokens": 1}}})
    usage = read({"type": "message_delta", "usage": {"output_tokens": 25}})
    assert usage is not None and (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (43, 40, 25)
    assert read({"type": "content_block_delta"}) is None
    whole = usage_reader()({"type": "message", "usage": {"input_tokens": 2, "output_tokens": 9}})
    assert whole is not None and whole.total_tokens == 11
