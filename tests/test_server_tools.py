"""`relayport.server_tools`: server tools named on the OpenAI surface reach only the vendors
that run them; `web_search` falls back to a vendor's search flag."""

from __future__ import annotations

import openai
import pytest

from relayport.server_tools import base_type

GW = "sk-gw-tools"


def test_versioned_names_reduce_to_the_tool():
    assert base_type("code_execution_20250825") == "code_execution"
    assert base_type("web_search_preview") == "web_search"
    assert base_type("web_search_preview_2025_03_11") == "web_search"
    assert base_type("google_search") == "google_search"


@pytest.fixture
def gw(relayport_gateway, fake_openai):
    return relayport_gateway({"auth": {"keys": [GW]}, "models": [
        {"name": name, "provider": provider, "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}
        for name, provider in (("qwen", "dashscope"), ("gpt", "openai"), ("kimi", "moonshot"))]}, env={})


def test_web_search_tool_becomes_the_vendors_search_flag(gw, fake_openai):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW, max_retries=0)
    client.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "news"}],
                                   tools=[{"type": "web_search"}])
    sent = fake_openai.last.json()
    assert sent["enable_search"] is True and "tools" not in sent
    fn = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    client.chat.completions.create(model="kimi", messages=[{"role": "user", "content": "news"}],
                                   tools=[{"type": "web_search_preview"}, fn])
    tools = fake_openai.last.json()["tools"]  # Kimi's own search tool, beside the function
    assert {t["function"]["name"] for t in tools} == {"f", "$web_search"}


@pytest.mark.parametrize("tool", ["code_execution", "web_fetch", "url_context", "code_interpreter", "web_search"])
def test_openai_chat_models_run_no_server_tools(gw, fake_openai, tool):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW, max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}],
                                       tools=[{"type": tool}])
    assert err.value.code == "unsupported_tool" and f"The {tool} tool is not available for model 'gpt'" \
        in err.value.body["message"]
    assert fake_openai.requests == []
