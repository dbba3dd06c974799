"""Kimi's official tools (Moonshot's Formula API) behind the gateway key: the seed's
"获取系统工具 / 执行系统工具", replayed as Moonshot's guide runs them (list a formula's tools, give
them to Kimi, run the call the model makes as a fiber, hand the result back)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from moonshot_helpers import GATEWAY_KEY, VENDOR_KEY

from relayport.calls import CallRecord
from relayport.server.keys import GATEWAY
from relayport.testing.servers import GatewayHandle, start_gateway
from relayport_moonshot.testing_formulas import ENCRYPTED, FakeKimiFormulas

URI = "moonshot/web-search:latest"


@pytest.fixture
def fake() -> Iterator[FakeKimiFormulas]:
    server = FakeKimiFormulas(api_key=VENDOR_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(fake: FakeKimiFormulas) -> Iterator[GatewayHandle]:
    # No service settings at all: the key and base URL come from the configured Kimi model.
    handle = start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                            "models": [{"name": "kimi", "provider": "moonshot", "model": "kimi-k2.6",
                                        "base_url": fake.base_url, "api_key": VENDOR_KEY}]}, env={})
    yield handle
    handle.stop()


def tools_client(gateway: GatewayHandle) -> httpx.Client:
    # Moonshot's guide calls the Formula API with httpx under the same base URL as chat.
    return httpx.Client(base_url=gateway.url + "/v1/services/moonshot",
                        headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=10)


def test_list_run_and_answer_with_a_formula_tool(gateway, fake) -> None:
    http = tools_client(gateway)
    listed = http.get(f"/formulas/{URI}/tools")
    assert listed.status_code == 200
    tools = listed.json()["tools"]
    assert tools[0]["function"]["name"] == "web_search"
    assert fake.last.headers["authorization"] == f"Bearer {VENDOR_KEY}"  # the server's key, not ours

    chat = openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)
    fake.queue_text(tool_calls=[{"id": "web_search:0", "type": "function", "function": {
        "name": "web_search", "arguments": '{"query": "Moonshot Kimi K2 release date"}'}}], finish_reason="tool_calls")
    first = chat.chat.completions.create(model="kimi", tools=tools, messages=[
        {"role": "user", "content": "When was Kimi K2 released?"}])
    call = first.choices[0].message.tool_calls[0]
    assert fake.requests[-1].json()["tools"] == tools  # the formula's declaration reached Kimi as given

    fiber = http.post(f"/formulas/{URI}/fibers", json={"name": call.function.name,
                                                       "arguments": call.function.arguments})
    assert fiber.status_code == 200
    body = fiber.json()
    assert body["status"] == "succeeded" and body["context"]["encrypted_output"] == ENCRYPTED
    assert fake.last.json() == {"name": "web_search", "arguments": '{"query": "Moonshot Kimi K2 release date"}'}

    fake.queue_text("Kimi K2 was released in July 2025.")
    final = chat.chat.completions.create(model="kimi", tools=tools, messages=[
        {"role": "user", "content": "When was Kimi K2 released?"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "name": "web_search", "content": ENCRYPTED}])
    assert final.choices[0].message.content == "Kimi K2 was released in July 2025."
    assert fake.requests[-1].json()["messages"][-1]["content"] == ENCRYPTED


def test_errors_are_kimis_in_the_openai_envelope(gateway, fake) -> None:
    http = tools_client(gateway)
    missing = http.get("/formulas/moonshot/nope:latest/tools")
    assert missing.status_code == 404 and "formula moonshot/nope:latest not found" in missing.json()["error"]["message"]
    bad = http.post(f"/formulas/{URI}/fibers", json={"name": "date", "arguments": "{}"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("moonshot: tool date not in")
    # Only the two Formula routes: the gateway key does not reach the rest of Moonshot's API.
    other = http.get("/files")
    assert other.status_code == 404 and other.json()["error"]["code"] == "unknown_route"
    assert httpx.get(gateway.url + f"/v1/services/moonshot/formulas/{URI}/tools").status_code == 401


def test_fibers_are_recorded_per_call(gateway, fake) -> None:
    seen: list[CallRecord] = []
    gateway.server.app[GATEWAY].observers.append(seen.append)
    tools_client(gateway).post("/formulas/moonshot/date:latest/fibers", json={"name": "date",
                                                                              "arguments": '{"operation": "now"}'})
    (rec,) = seen
    assert (rec.kind, rec.model, rec.upstream_model, rec.status) == (
        "service", "moonshot", "/formulas/moonshot/date:latest/fibers", 200)
