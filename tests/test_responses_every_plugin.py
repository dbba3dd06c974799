"""The Responses surface is checked for every installed vendor plugin, not only the ones someone
remembered: each plugin that registers a chat provider runs the conformance suite
(`relayport.testing.conformance.ProviderConformance`, whose Responses checks validate every
Response object and every stream event against OpenAI's schema: text, function calls,
reasoning, input token counts), and the two chat providers that are no plugin package's own
(the core's builtin `openai-compatible`, the example Echo vendor) are checked here the same way.
A new plugin without a conformance class fails this test by name.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from relayport.plugins import load_plugins
from relayport.testing import openapi
from relayport.testing.conformance import ProviderConformance
from tests.fake_echo import ECHO_KEY

ROOT = Path(__file__).parents[1]
KEY = "sk-gw-every-plugin"
# Chat providers of no plugin package: checked by the tests below instead.
CHECKED_HERE = {"relayport.builtins": "openai-compatible", "echo": "echo"}
RESPONSES_CHECKS = ("test_responses", "test_responses_stream", "test_responses_function_call",
                    "test_responses_reasoning", "test_responses_input_tokens")


def _conformance_providers() -> dict[str, str]:
    """provider -> test file, for every ProviderConformance subclass in the plugins' tests
    (subclasses of subclasses too: Z.ai's class extends Zhipu's)."""
    classes: dict[str, tuple[list[str], str | None, str]] = {}
    for path in sorted(ROOT.glob("plugins/*/tests/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            provider = None
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "provider" for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant)):
                    provider = str(stmt.value.value)
            classes[node.name] = ([ast.unparse(b) for b in node.bases], provider, str(path.relative_to(ROOT)))

    def conforms(name: str, seen: frozenset[str] = frozenset()) -> bool:
        bases = classes.get(name, ([], None, ""))[0]
        return any(b.endswith("ProviderConformance") or (b not in seen and conforms(b, seen | {name}))
                   for b in bases)

    return {provider: path for name, (_, provider, path) in classes.items() if provider and conforms(name)}


def test_every_installed_chat_plugin_runs_the_conformance_suite() -> None:
    plugins = load_plugins({})
    assert not plugins.failures, plugins.failures
    by_plugin: dict[str, set[str]] = {}
    for name, entry in plugins.providers.items():
        if "chat" in entry.spec.capabilities:
            by_plugin.setdefault(entry.plugin, set()).add(name)
    assert len(by_plugin) >= 20, sorted(by_plugin)  # the repo's plugins are installed (a broken venv would pass)
    covered = _conformance_providers()
    missing = {plugin: sorted(names) for plugin, names in by_plugin.items()
               if plugin not in CHECKED_HERE and not names & covered.keys()}
    assert not missing, f"chat plugins without a ProviderConformance subclass in their tests: {missing}"
    assert set(CHECKED_HERE.values()) <= {n for names in by_plugin.values() for n in names}


def test_the_suite_checks_the_responses_surface() -> None:
    for check in RESPONSES_CHECKS:
        assert callable(getattr(ProviderConformance, check, None)), check


# ------------------------------------------------------------------ the chat providers checked here


@pytest.fixture
def gw(relayport_gateway, fake_openai, fake_echo):
    return relayport_gateway({
        "auth": {"keys": [KEY]},
        "models": [
            {"name": "compat", "provider": "openai-compatible", "model": "local-model",
             "base_url": fake_openai.base_url, "api_key": fake_openai.api_key},
            {"name": "echo", "provider": "echo", "model": "echo-1", "base_url": fake_echo.base_url,
             "api_key": ECHO_KEY},
        ],
    }, env={})


def _stream(gw: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = httpx.post(gw.openai_base_url + "/responses", json={**body, "stream": True},
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
    return openapi.validate_response_stream(r.content)


def _create(client: openai.OpenAI, **body: Any) -> dict[str, Any]:
    raw = client.responses.with_raw_response.create(**body)
    obj: dict[str, Any] = orjson.loads(raw.content)
    openapi.validate_response(obj)
    return obj


@pytest.mark.parametrize("model,said", [("compat", "echo: hi there"), ("echo", "you said hi there")])
def test_text_stream_and_count(gw, model: str, said: str) -> None:
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=KEY, max_retries=0)
    obj = _create(client, model=model, input="hi there")
    assert obj["output"][-1]["content"][0]["text"] == said and obj["status"] == "completed"
    events = _stream(gw, {"model": model, "input": "hi there"})
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == said
    assert events[-1]["type"] == "response.completed"
    raw = client.responses.input_tokens.with_raw_response.count(model=model, input="hi there")
    openapi.validate("TokenCountsResource", orjson.loads(raw.content))
    assert raw.parse().input_tokens > 0


def test_openai_compatible_function_call_and_reasoning(gw, fake_openai) -> None:
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=KEY, max_retries=0)
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object",
                                                                    "properties": {"q": {"type": "string"}}}}]
    fake_openai.queue_text("", reasoning="Look it up.", tool_calls=[call])
    obj = _create(client, model="compat", input="find x", tools=tools)
    assert [o["type"] for o in obj["output"]] == ["reasoning", "function_call"]
    fake_openai.queue_text("", reasoning="Look it up.", tool_calls=[call])
    events = _stream(gw, {"model": "compat", "input": "find x", "tools": tools})
    assert "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta") == "Look it up."
    assert "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta") == '{"q": "x"}'
