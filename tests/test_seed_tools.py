"""The seeds' search-service and tool entries, replayed through the gateway against the fakes.

Seeds 000/001 list, beside the models: the `serper` search service ("get方式", "post方式"),
Claude's `code_execution` in the Anthropic format, Kimi's "获取系统工具 / 执行系统工具", the
"代码解释器 · qwen3" code interpreter and `gemini-2.5-computer-use-preview-10-2025`; seed 003
(§7.5) says `enable_search` has no effect on DeepSeek. Each runs here the way a client of
such an aggregator would call it, with the official SDK where one exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from google import genai
from google.genai import types

from relayport.testing.fakes import FakeOpenAI, Reply
from relayport.testing.servers import GatewayHandle
from relayport_anthropic.testing import FakeAnthropic
from relayport_dashscope.testing import TEXT, FakeDashScope
from relayport_gemini.testing import FakeGemini
from relayport_moonshot.testing_formulas import FakeKimiFormulas
from relayport_serper.testing import FakeSerper

GW = "sk-gw-seeds"


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    made = {"serper": FakeSerper(), "anthropic": FakeAnthropic(api_key="sk-ant"), "gemini": FakeGemini(api_key="gm"),
            "kimi": FakeKimiFormulas(api_key="sk-kimi"), "dashscope": FakeDashScope(api_key="sk-ds"),
            "deepseek": FakeOpenAI(api_key="sk-ds-chat")}
    for fake in made.values():
        fake.start()
    yield made
    for fake in made.values():
        fake.stop()


def _gateway(relayport_gateway, f: dict[str, Any], as_tool: bool = False) -> GatewayHandle:
    return relayport_gateway({
        "auth": {"keys": [GW]},
        "models": [
            {"name": "claude-code-exec", "provider": "anthropic", "base_url": f["anthropic"].base_url,
             "api_key": "sk-ant"},
            {"name": "gemini-2.5-computer-use-preview-10-2025", "provider": "gemini",
             "base_url": f["gemini"].base_url, "api_key": "gm"},
            {"name": "kimi-k2.5", "provider": "moonshot", "base_url": f["kimi"].base_url, "api_key": "sk-kimi"},
            {"name": "qwen3-max", "provider": "dashscope", "base_url": f["dashscope"].base_url, "api_key": "sk-ds"},
            {"name": "deepseek-v4-flash", "provider": "deepseek", "base_url": f["deepseek"].base_url,
             "api_key": "sk-ds-chat"},
        ],
        "services": {"serper": {"base_url": f["serper"].url, "api_key": f["serper"].api_key}},
        "search": {"service": "serper", "as_tool": as_tool},
    }, env={})


def test_serper_get_and_post(relayport_gateway, fakes) -> None:
    gw = _gateway(relayport_gateway, fakes)
    got = httpx.get(gw.url + "/v1/services/serper/search", params={"q": "apple inc", "gl": "cn", "hl": "zh-cn"},
                    headers={"X-API-KEY": GW})
    posted = httpx.post(gw.url + "/v1/services/serper/search", json={"q": "apple inc", "gl": "cn", "hl": "zh-cn"},
                        headers={"X-API-KEY": GW, "Content-Type": "application/json"})
    assert got.status_code == posted.status_code == 200
    assert got.json()["organic"] == posted.json()["organic"] and len(got.json()["organic"]) == 10
    assert [r.method for r in fakes["serper"].requests] == ["GET", "POST"]


def test_claude_code_execution_in_the_anthropic_format(relayport_gateway, fakes) -> None:
    gw = _gateway(relayport_gateway, fakes)
    fakes["anthropic"].queue_turn([
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "bash_code_execution",
         "input": {"command": "python3 -c 'import statistics; print(statistics.mean([1,2,3,4,5]))'"}},
        {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_1", "content": {
            "type": "bash_code_execution_result", "stdout": "3\n", "stderr": "", "return_code": 0, "content": []}},
        {"type": "text", "text": "The mean is 3."}])
    client = anthropic.Anthropic(base_url=gw.url, api_key=GW, max_retries=0)
    msg = client.messages.create(model="claude-code-exec", max_tokens=1024,
                                 messages=[{"role": "user", "content": "Mean of 1..5? Use code."}],
                                 tools=[{"type": "code_execution_20250825", "name": "code_execution"}])
    # The client sent no beta header (as aggregators' examples do): the gateway adds the one needed.
    assert fakes["anthropic"].last.headers["anthropic-beta"] == "code-execution-2025-08-25"
    assert [b.type for b in msg.content] == ["server_tool_use", "bash_code_execution_tool_result", "text"]
    assert msg.content[1].content.stdout == "3\n"


def test_kimi_system_tools_list_and_run(relayport_gateway, fakes) -> None:
    gw = _gateway(relayport_gateway, fakes)
    http = httpx.Client(base_url=gw.url + "/v1/services/moonshot", headers={"Authorization": f"Bearer {GW}"})
    listed = http.get("/formulas/moonshot/date:latest/tools").json()["tools"]  # 获取系统工具
    ran = http.post("/formulas/moonshot/date:latest/fibers",  # 执行系统工具
                    json={"name": listed[0]["function"]["name"], "arguments": '{"operation": "now"}'}).json()
    assert ran["status"] == "succeeded" and ran["context"]["output"] == "2026-11-29 21:00:00 UTC"


def test_qwen3_code_interpreter(relayport_gateway, fakes) -> None:
    gw = _gateway(relayport_gateway, fakes)
    event = {"output": {"choices": [{"message": {"content": "", "reasoning_content": "", "role": "assistant"},
                                     "finish_reason": "null"}],
                        "tool_info": [{"code_interpreter": {"code": "2**64"}, "type": "code_interpreter"}]},
             "usage": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}, "request_id": "r1"}
    done = {"output": {"choices": [{"message": {"content": "18446744073709551616", "role": "assistant"},
                                    "finish_reason": "stop"}], "tool_info": event["output"]["tool_info"]},
            "usage": {"input_tokens": 10, "output_tokens": 9, "total_tokens": 19}, "request_id": "r1"}
    fakes["dashscope"].push(Reply.sse([b"id:1\nevent:result\n:HTTP_STATUS/200\ndata:" + orjson.dumps(event) + b"\n\n",
                                       b"id:2\nevent:result\n:HTTP_STATUS/200\ndata:" + orjson.dumps(done) + b"\n\n"]))
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW, max_retries=0)
    answer = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "2^64?"}],
                                            extra_body={"enable_code_interpreter": True, "enable_thinking": True})
    assert fakes["dashscope"].last.path == TEXT
    message = answer.choices[0].message
    assert message.content == "18446744073709551616"
    assert message.model_extra["server_tool_calls"][0]["input"] == {"code": "2**64"}


def test_gemini_computer_use_model_in_both_formats(relayport_gateway, fakes) -> None:
    gw = _gateway(relayport_gateway, fakes)
    model = "gemini-2.5-computer-use-preview-10-2025"
    fakes["gemini"].queue_turn([{"functionCall": {"name": "open_web_browser", "args": {}}}])
    native = genai.Client(api_key=GW, http_options=types.HttpOptions(base_url=gw.url))
    resp = native.models.generate_content(model=model, contents="Search flights to Tokyo", config=types.GenerateContentConfig(
        tools=[types.Tool(computer_use=types.ComputerUse(environment=types.Environment.ENVIRONMENT_BROWSER))],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)))
    assert resp.function_calls[0].name == "open_web_browser"
    assert fakes["gemini"].last.json()["tools"] == [{"computerUse": {"environment": "ENVIRONMENT_BROWSER"}}]
    fakes["gemini"].queue_turn([{"functionCall": {"name": "type_text_at", "args": {"x": 10, "y": 20, "text": "Tokyo"}}}])
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW, max_retries=0)
    answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Search flights"}],
                                            tools=[{"type": "computer_use"}])
    assert answer.choices[0].message.tool_calls[0].function.name == "type_text_at"
    assert fakes["gemini"].last.json()["tools"] == [{"computerUse": {"environment": "ENVIRONMENT_BROWSER"}}]


@pytest.mark.parametrize("as_tool", [False, True])
def test_deepseek_enable_search(relayport_gateway, fakes, as_tool: bool) -> None:
    gw = _gateway(relayport_gateway, fakes, as_tool=as_tool)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="deepseek-v4-flash", messages=[{"role": "user", "content": "请用五条要点总结一下缓存穿透的应对策略。"}],
        extra_body={"enable_thinking": False, "enable_search": True})
    sent = fakes["deepseek"].last.json()
    assert "enable_search" not in sent
    if as_tool:
        assert "enable_search answered with 5 serper results" in raw.headers["x-relayport-adjustments"]
        assert sent["messages"][0]["role"] == "system" and "Web search results for:" in sent["messages"][0]["content"]
    else:
        # What seed 003 says of DeepSeek ("不生效"), now said to the client too.
        assert raw.headers["x-relayport-adjustments"] == "enable_search ignored (no web search for this model)"
        assert fakes["serper"].requests == []
