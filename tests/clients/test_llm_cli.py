"""The `llm` CLI against the gateway's OpenAI surface, configured as its users do: models in
`extra-openai-models.yaml`, the key in `keys.json` (both in a temporary LLM_USER_PATH)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from relayport.testing.servers import GatewayHandle
from tests.clients.conftest import CLAUDE, GATEWAY_KEY, MODELS, Vendors, weather_call

LLM_MODELS = {CLAUDE: "gw-claude", "gpt-4o-mini": "gw-gpt", "no-such-model": "gw-nope"}


@pytest.fixture(scope="module")
def llm_home(gateway: GatewayHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("llm")
    lines = []
    for model, alias in LLM_MODELS.items():
        lines += [f"- model_id: {alias}", f"  model_name: {model}", f"  api_base: {gateway.openai_base_url}",
                  "  api_key_name: relayport", "  supports_tools: true", "  supports_schema: true",
                  "  reasoning: true"]
    (home / "extra-openai-models.yaml").write_text("\n".join(lines) + "\n")
    (home / "keys.json").write_text(json.dumps({"relayport": GATEWAY_KEY}))
    yield home


def llm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "LLM_"))}
    env["LLM_USER_PATH"] = str(home)
    return subprocess.run([sys.executable, "-m", "llm", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def last_log(home: Path) -> dict[str, Any]:
    out = llm(home, "logs", "-n", "1", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("model", MODELS)
def test_prompt_and_usage(llm_home: Path, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("Hello there.")
    out = llm(llm_home, "-m", LLM_MODELS[model], "--no-stream", "hi")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Hello there.\n"
    log = last_log(llm_home)
    assert log["response"] == "Hello there." and log["input_tokens"] > 0 and log["output_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_stream_with_usage(llm_home: Path, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("one two three four")
    out = llm(llm_home, "-m", LLM_MODELS[model], "-u", "count")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "one two three four\n"
    assert "Token usage:" in out.stderr and "output" in out.stderr
    assert vendors[model].last.json()["stream"] is True


@pytest.mark.parametrize("model", MODELS)
def test_schema(llm_home: Path, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text('{"city": "Lima", "temp_c": 20}')
    out = llm(llm_home, "-m", LLM_MODELS[model], "--schema", "city, temp_c int", "Lima?")
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout) == {"city": "Lima", "temp_c": 20}


@pytest.mark.parametrize("model", MODELS)
def test_tool_loop(llm_home: Path, vendors: Vendors, model: str) -> None:
    vendors[model].queue_text("", tool_calls=[weather_call("call_c1")])
    vendors[model].queue_text("It is 20C in Lima.")
    code = 'def get_weather(city: str) -> str:\n    "Current weather in a city."\n    return "20C in " + city\n'
    out = llm(llm_home, "-m", LLM_MODELS[model], "--functions", code, "Weather in Lima?")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("It is 20C in Lima.")
    sent = vendors[model].last.json()["messages"]
    if model == CLAUDE:
        assert sent[-1]["content"][0] == {"type": "tool_result", "tool_use_id": "call_c1", "content": "20C in Lima"}
    else:
        assert sent[-1] == {"role": "tool", "tool_call_id": "call_c1", "content": "20C in Lima"}


def test_json_object_and_reasoning_on_claude(llm_home: Path, vendors: Vendors) -> None:
    vendors.anthropic.queue_text('"a": 1}')
    out = llm(llm_home, "-m", "gw-claude", "-o", "json_object", "1", "--no-stream", "json please")
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout) == {"a": 1}
    vendors.anthropic.queue_text("Four.", reasoning="2 and 2 make 4")
    out = llm(llm_home, "-m", "gw-claude", "-o", "reasoning_effort", "low", "--no-stream", "2+2?")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Four.\n"
    assert vendors.anthropic.last.json()["thinking"] == {"type": "enabled", "budget_tokens": 2048}


@pytest.mark.parametrize("model", MODELS)
def test_errors(llm_home: Path, vendors: Vendors, model: str) -> None:
    vendors[model].push(*[vendors[model].error_reply(429, "slow down")] * 3)  # the SDK retries twice
    out = llm(llm_home, "-m", LLM_MODELS[model], "--no-stream", "hi")
    assert out.returncode == 1 and "slow down" in out.stderr and "429" in out.stderr
    out = llm(llm_home, "-m", "gw-nope", "hi")
    assert out.returncode == 1 and "404" in out.stderr and "no-such-model" in out.stderr
