"""The conformance suite every vendor plugin runs: subclass `ProviderConformance` in its tests.

    from relayport.testing.conformance import ProviderConformance

    class TestDeepSeekConformance(ProviderConformance):
        provider = "deepseek"
        entry_point = "deepseek"
        model = "deepseek-chat"

        def make_fake(self):
            return FakeOpenAI(usage_style="deepseek")

The fake must speak the vendor's real wire format and offer the `VendorFake` methods below;
the suite then drives the plugin through the gateway's public API with the official `openai`
SDK and checks every answer against OpenAI's published OpenAPI schema.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import orjson
import pytest

from relayport.plugins import load_plugins
from relayport.server.ops_routes import describe_plugins
from relayport.server_tools import SERVER_TOOLS
from relayport.testing import openapi
from relayport.testing.chat import finishes, stream_chat
from relayport.testing.fakes import RecordedRequest, Reply
from relayport.testing.servers import GatewayHandle, start_gateway

KNOWN_CAPABILITIES = frozenset({
    "chat", "stream", "tools", "vision", "audio", "video", "files", "thinking", "search", "responses",
    "images", "video_generation", "speech", "embeddings",
    # Server tools the vendor runs itself (relayport.server_tools).
    *(f"tool:{name}" for name in SERVER_TOOLS),
})
GATEWAY_KEY = "sk-gateway-conformance"
VENDOR_KEY = "sk-vendor-conformance-SECRET"


class VendorFake(Protocol):
    """What the suite needs of a plugin's fake vendor."""

    requests: list[RecordedRequest]

    @property
    def base_url(self) -> str:
        """The base URL to configure (what the vendor's SDK calls base_url)."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def push(self, *replies: Reply) -> None: ...

    def queue_text(self, text: str = "", **kwargs: Any) -> None:
        """Script the next turn: answered as JSON or as a stream, as the request asks.

        The checks beyond plain text pass these keywords, each in OpenAI's terms, and skip
        (saying which keyword is missing) when the fake's `queue_text` does not take one:
        `finish_reason` ("length", "content_filter": rendered in the vendor's own word),
        `reasoning` (the vendor's thinking text), `tool_calls` (OpenAI-shaped calls),
        `drop_after` (a stream's connection closes after that many events) and
        `error_after` (a stream carries the vendor's in-band error after that many events).
        """

    def error_reply(self, status: int, message: str) -> Reply:
        """The vendor's own error envelope with this status and message."""


def needs(capability: str) -> pytest.MarkDecorator:
    """A check that applies only to providers declaring `capability` in their ProviderSpec:
    not collected for the others (deselected, not skipped: it is not theirs to pass)."""
    return pytest.mark.relayport_needs(capability)


class ProviderConformance:
    provider: str
    entry_point: str
    model: str
    #: how the fake expects the vendor key: header name and its value format
    auth_header: str = "authorization"
    auth_format: str = "Bearer {key}"
    #: the vendor models the reasoning and image checks use, when `model` is not one
    reasoning_model: str | None = None
    vision_model: str | None = None
    #: plugins to load beside the installed ones ({name: module}): a plugin under development
    #: that is not installed yet, or a test's own plugin
    extra_plugins: Mapping[str, object] | None = None

    def make_fake(self) -> VendorFake:
        raise NotImplementedError

    # ----------------------------------------------------------------- fixtures

    @pytest.fixture
    def vendor(self) -> Iterator[VendorFake]:
        fake = self.make_fake()
        fake.api_key = VENDOR_KEY  # type: ignore[attr-defined]
        fake.start()
        yield fake
        fake.stop()

    @pytest.fixture
    def gateway(self, vendor: VendorFake) -> Iterator[GatewayHandle]:
        config = {
            "server": {"state_path": ":memory:"},
            "auth": {"keys": [GATEWAY_KEY]},
            "router": {"max_attempts": 1},  # a vendor error must reach the client as the vendor sent it
            "models": [{"name": name, "provider": self.provider, "model": model,
                        "base_url": vendor.base_url, "api_key": VENDOR_KEY}
                       for name, model in (("conformance-model", self.model),
                                           ("conformance-reasoning", self.reasoning_model or self.model),
                                           ("conformance-vision", self.vision_model or self.model))],
        }
        handle = start_gateway(config, env={}, extra_plugins=self.extra_plugins)
        yield handle
        handle.stop()

    def client(self, gateway: GatewayHandle) -> Any:
        import openai

        return openai.OpenAI(base_url=gateway.openai_base_url, api_key=GATEWAY_KEY, max_retries=0)

    # ----------------------------------------------------------------- registration

    def _plugins(self) -> Any:
        return load_plugins({"RELAYPORT_LOAD_PLUGINS": self.entry_point}, extra_plugins=self.extra_plugins)

    def test_loads_through_its_entry_point(self) -> None:
        if self.extra_plugins:
            pytest.skip("extra_plugins given: the plugin under test is not loaded by entry point")
        plugins = self._plugins()
        assert not plugins.failures, plugins.failures
        entry = plugins.provider(self.provider)
        assert entry is not None, f"provider {self.provider!r} not registered by {self.entry_point!r}"
        assert entry.plugin == self.entry_point
        listed = describe_plugins(plugins)["plugins"]
        assert any(p["name"] == self.entry_point and p["version"] for p in listed)

    def test_provider_spec_is_well_formed(self) -> None:
        entry = self._plugins().provider(self.provider)
        assert entry is not None
        spec = entry.spec
        # Empty: every customer has their own endpoint (Azure resources), named per model.
        assert spec.base_url == "" or spec.base_url.startswith("https://"), \
            "the default base URL must be the vendor's HTTPS API (or empty: configured per model)"
        assert spec.key_env, "name the environment variable(s) the vendor key is read from"
        assert spec.capabilities <= KNOWN_CAPABILITIES, spec.capabilities - KNOWN_CAPABILITIES
        assert "chat" in spec.capabilities

    # ----------------------------------------------------------------- calls

    def test_chat(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        vendor.queue_text("conformance says hi")
        resp = self.client(gateway).chat.completions.with_raw_response.create(
            model="conformance-model", messages=[{"role": "user", "content": "hello"}]
        )
        body = orjson.loads(resp.content)
        openapi.validate_chat_completion(body)
        completion = resp.parse()
        assert completion.choices[0].message.content == "conformance says hi"
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None and completion.usage.total_tokens > 0
        sent = vendor.requests[-1]
        assert sent.headers.get(self.auth_header) == self.auth_format.format(key=VENDOR_KEY)

    def test_chat_stream(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        vendor.queue_text("streamed words arrive in order")
        chunks, raw = self._stream(gateway, {"stream_options": {"include_usage": True},
                                             "messages": [{"role": "user", "content": "hello"}]})
        assert [line for line in raw.split(b"\n") if line.startswith(b"data: ")][-1] == b"data: [DONE]"
        assert all("error" not in c for c in chunks), raw[-400:]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == "streamed words arrive in order"
        assert self._finishes(chunks) == ["stop"]
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0

    # ----------------------------------------------------------------- what a client relies on

    def _script(self, vendor: VendorFake, text: str = "", **kwargs: Any) -> None:
        """`vendor.queue_text(text, **kwargs)`, or a skip naming what the fake lacks."""
        params = inspect.signature(vendor.queue_text).parameters
        open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        for name in kwargs:
            if name not in params and not open_ended:
                pytest.skip(f"{type(vendor).__name__}.queue_text takes no {name!r}: this check needs the "
                            f"fake to script it (see relayport.testing.conformance.VendorFake)")
        try:
            vendor.queue_text(text, **kwargs)
        except TypeError as exc:  # **kwargs passed on to something that does not take them
            pytest.skip(f"{type(vendor).__name__}.queue_text cannot script {sorted(kwargs)}: {exc}")

    def declares(self, capability: str) -> bool:
        """Whether the provider under test declares `capability` (the checks marked `needs` it
        are collected only then: relayport.testing.plugin)."""
        entry = self._plugins().provider(self.provider)
        return entry is None or capability in entry.spec.capabilities  # None: test_loads_... fails

    def _stream(self, gateway: GatewayHandle, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes]:
        """The chunks of a streamed call (validated against OpenAI's schema) and the raw bytes;
        a broken stream may end without `[DONE]` (the checks say what it must end with)."""
        stream = stream_chat(gateway, {"model": "conformance-model", **body}, GATEWAY_KEY, done=False)
        return stream.chunks, stream.raw

    _finishes = staticmethod(finishes)

    @pytest.mark.parametrize("reason", ["length", "content_filter"])
    def test_finish_reasons_keep_their_meaning(self, vendor: VendorFake, gateway: GatewayHandle,
                                               reason: str) -> None:
        """A vendor's "max tokens" or "blocked" stop is `length` / `content_filter` to the
        client, never `stop`: a client treats a cut answer as whole otherwise."""
        self._script(vendor, "cut short", finish_reason=reason)
        completion = self.client(gateway).chat.completions.create(
            model="conformance-model", messages=[{"role": "user", "content": "hello"}], max_tokens=3)
        assert completion.choices[0].finish_reason == reason
        self._script(vendor, "cut short", finish_reason=reason)
        chunks, _ = self._stream(gateway, {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 3})
        assert self._finishes(chunks) == [reason]

    def test_long_answer_arrives_whole(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """Nothing of a long answer is lost or altered: quotes, escapes, newlines, non-ASCII."""
        text = " ".join(f'line {i}: "quoted" \\ back, tab\t, 文字 émoji 🚀 {i * 7919 % 1000}.\n'
                        for i in range(120)).strip()
        self._script(vendor, text)
        completion = self.client(gateway).chat.completions.create(
            model="conformance-model", messages=[{"role": "user", "content": "hello"}])
        assert completion.choices[0].message.content == text
        self._script(vendor, text)
        chunks, _ = self._stream(gateway, {"messages": [{"role": "user", "content": "hello"}]})
        streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
        assert streamed == text

    def test_request_reaches_the_vendor(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """The `developer` instructions and the sampling parameters reach the vendor (in its
        own fields), or the gateway says which it dropped in `x-relayport-adjustments`."""
        import httpx

        vendor.queue_text("ok")
        marker = "conformance-developer-instructions-5371"
        body = {"model": "conformance-model", "top_p": 0.4375, "temperature": 0.3125, "max_tokens": 321,
                "messages": [{"role": "developer", "content": marker},
                             {"role": "user", "content": "conformance-user-turn-8867"}]}
        r = httpx.post(gateway.openai_base_url + "/chat/completions", json=body, timeout=30,
                       headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
        assert r.status_code == 200, r.text
        sent = vendor.requests[-1].body.decode()
        announced = r.headers.get("x-relayport-adjustments", "")
        assert marker in sent, "the developer message did not reach the vendor"
        assert "conformance-user-turn-8867" in sent
        for name, value in (("top_p", "0.4375"), ("temperature", "0.3125"), ("max_tokens", "321")):
            assert value in sent or name in announced, f"{name} neither reached the vendor nor was announced"

    @needs("thinking")
    def test_reasoning_reaches_the_client(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """A thinking model's reasoning comes back as `reasoning_content`, whole and in order,
        apart from the answer."""
        thought = "first I weigh the options, then I pick one"
        self._script(vendor, "the answer", reasoning=thought)
        completion = self.client(gateway).chat.completions.create(
            model="conformance-reasoning", messages=[{"role": "user", "content": "think"}])
        message = completion.choices[0].message
        assert message.content == "the answer"
        assert getattr(message, "reasoning_content", None) == thought
        self._script(vendor, "the answer", reasoning=thought)
        chunks, _ = self._stream(gateway, {"model": "conformance-reasoning",
                                           "messages": [{"role": "user", "content": "think"}]})
        deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
        assert "".join(d.get("reasoning_content") or "" for d in deltas) == thought
        assert "".join(d.get("content") or "" for d in deltas) == "the answer"

    @needs("tools")
    def test_tool_call_round_trip(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """A tool call comes back with its name and arguments, and the tool's result goes
        back to the vendor on the next turn."""
        call = {"id": "call_conf_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}}
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                           "required": ["city"]}}}]
        self._script(vendor, "", tool_calls=[call])
        client = self.client(gateway)
        messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
        first = client.chat.completions.create(model="conformance-model", messages=messages, tools=tools)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls and choice.message.tool_calls[0].function.name == "get_weather"
        assert orjson.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris", "unit": "c"}
        got = choice.message.tool_calls[0]
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": got.id, "type": "function", "function": {"name": "get_weather",
                                                                "arguments": got.function.arguments}}]},
            {"role": "tool", "tool_call_id": got.id, "content": "conformance-tool-result-2207"},
        ]
        vendor.queue_text("it is mild")
        second = client.chat.completions.create(model="conformance-model", messages=messages, tools=tools)
        assert second.choices[0].message.content == "it is mild"
        assert "conformance-tool-result-2207" in vendor.requests[-1].body.decode()

    @pytest.mark.parametrize("how", ["drop_after", "error_after"])
    def test_broken_stream_ends_in_an_error(self, vendor: VendorFake, gateway: GatewayHandle, how: str) -> None:
        """A vendor that fails mid-stream (connection lost, or its in-band error event) ends
        the client's stream with an error, never with a clean finish the client would trust."""
        self._script(vendor, "these words will not all arrive in time", **{how: 3})
        chunks, raw = self._stream(gateway, {"messages": [{"role": "user", "content": "hello"}]})
        assert any("error" in c for c in chunks), raw[-400:]
        assert self._finishes(chunks) == [], "a broken stream must not claim a finish reason"

    def test_usage_only_when_asked_for_in_streams(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """`stream_options.include_usage` decides whether a stream ends with a usage chunk."""
        vendor.queue_text("counted")
        chunks, _ = self._stream(gateway, {"messages": [{"role": "user", "content": "hello"}]})
        assert all(c.get("usage") is None for c in chunks)
        vendor.queue_text("counted")
        chunks, _ = self._stream(gateway, {"messages": [{"role": "user", "content": "hello"}],
                                           "stream_options": {"include_usage": True}})
        usage = chunks[-1].get("usage")
        assert chunks[-1]["choices"] == [] and usage is not None
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0

    @needs("vision")
    def test_image_input_reaches_the_vendor(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """An image part reaches a vision model's vendor (inline data, in the vendor's form)."""
        import base64

        png = base64.b64encode(_TINY_PNG).decode()
        vendor.queue_text("a dot")
        completion = self.client(gateway).chat.completions.create(model="conformance-vision", messages=[
            {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                         {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}])
        assert completion.choices[0].message.content == "a dot"
        assert png in vendor.requests[-1].body.decode()

    @pytest.mark.parametrize("status", [400, 401, 429, 500])
    def test_vendor_error_keeps_status(self, vendor: VendorFake, gateway: GatewayHandle, status: int) -> None:
        import openai

        vendor.push(vendor.error_reply(status, f"vendor says {status}"))
        with pytest.raises(openai.APIStatusError) as info:
            self.client(gateway).chat.completions.create(
                model="conformance-model", messages=[{"role": "user", "content": "hello"}]
            )
        assert info.value.status_code == status
        envelope = orjson.loads(info.value.response.content)
        openapi.validate_error(envelope)
        assert f"vendor says {status}" in envelope["error"]["message"]
        assert VENDOR_KEY not in info.value.response.text

    def test_responses(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """`POST /v1/responses` reaches every vendor (translated or passed through), and what
        comes back is a valid `Response`."""
        vendor.queue_text("responses say hi")
        raw = self.client(gateway).responses.with_raw_response.create(model="conformance-model", input="hello")
        openapi.validate_response(orjson.loads(raw.content))
        response = raw.parse()
        assert response.output_text == "responses say hi" and response.status == "completed"
        assert response.usage is not None and response.usage.total_tokens > 0

    def test_responses_stream(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        import httpx

        vendor.queue_text("streamed words arrive in order")
        r = httpx.post(gateway.openai_base_url + "/responses", timeout=30,
                       json={"model": "conformance-model", "input": "hello", "stream": True},
                       headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = openapi.validate_response_stream(r.content)
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text == "streamed words arrive in order"
        assert events[-1]["type"] == "response.completed"
        assert events[-1]["response"]["usage"]["total_tokens"] > 0

    def _responses_stream(self, gateway: GatewayHandle, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The events of a streamed `/v1/responses` call, each validated against OpenAI's schema."""
        import httpx

        r = httpx.post(gateway.openai_base_url + "/responses", timeout=30,
                       json={"model": "conformance-model", "stream": True, **body},
                       headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
        return openapi.validate_response_stream(r.content)

    @needs("tools")
    def test_responses_function_call(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """A function call comes back through `/v1/responses` as a `function_call` item, with
        its arguments whole in the Response and, streamed, in the argument deltas."""
        call = {"id": "call_conformance_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}}
        tools = [{"type": "function", "name": "get_weather", "description": "Weather",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                                  "unit": {"type": "string"}}}}]
        self._script(vendor, "", tool_calls=[call])
        raw = self.client(gateway).responses.with_raw_response.create(
            model="conformance-model", input="weather in Paris?", tools=tools)
        obj = orjson.loads(raw.content)
        openapi.validate_response(obj)
        calls = [o for o in obj["output"] if o["type"] == "function_call"]
        assert [(c["name"], orjson.loads(c["arguments"])) for c in calls] == [
            ("get_weather", {"city": "Paris", "unit": "c"})]
        assert calls[0]["call_id"]
        self._script(vendor, "", tool_calls=[call])
        events = self._responses_stream(gateway, {"input": "weather in Paris?", "tools": tools})
        streamed = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
        assert orjson.loads(streamed) == {"city": "Paris", "unit": "c"}
        final = [o for o in events[-1]["response"]["output"] if o["type"] == "function_call"]
        assert events[-1]["type"] == "response.completed" and final[0]["name"] == "get_weather"

    @needs("thinking")
    def test_responses_reasoning(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """A thinking model's reasoning comes back through `/v1/responses` as a `reasoning`
        item before the message, whole, streamed and not."""
        thought = "First the facts, then the answer."
        body = {"model": "conformance-reasoning", "input": "think", "reasoning": {"effort": "low", "summary": "auto"}}
        self._script(vendor, "the answer", reasoning=thought)
        raw = self.client(gateway).responses.with_raw_response.create(**body)
        obj = orjson.loads(raw.content)
        openapi.validate_response(obj)
        kinds = [o["type"] for o in obj["output"]]
        assert kinds.index("reasoning") < kinds.index("message"), kinds
        summary = obj["output"][kinds.index("reasoning")]["summary"]
        assert "".join(s["text"] for s in summary) == thought
        self._script(vendor, "the answer", reasoning=thought)
        events = self._responses_stream(gateway, body)
        streamed = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta")
        assert streamed == thought
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text == "the answer" and events[-1]["type"] == "response.completed"

    def test_responses_input_tokens(self, vendor: VendorFake, gateway: GatewayHandle) -> None:
        """`/v1/responses/input_tokens` answers for every model: the vendor's count or the local
        estimate (announced), as a valid `TokenCountsResource`."""
        import httpx

        r = httpx.post(gateway.openai_base_url + "/responses/input_tokens", timeout=30,
                       json={"model": "conformance-model", "input": "count these few words please"},
                       headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
        assert r.status_code == 200, r.text
        openapi.validate("TokenCountsResource", r.json())
        assert r.json()["input_tokens"] > 0

    def test_keys_never_shown(self, gateway: GatewayHandle) -> None:
        import httpx

        r = httpx.get(gateway.url + "/-/plugins", headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=30)
        assert r.status_code == 200
        assert VENDOR_KEY not in r.text and GATEWAY_KEY not in r.text


# A 1x1 PNG: small enough for every vendor's inline-image limit.
_TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a4f80000000049454e44ae426082")

MEDIA_CAPABILITIES = frozenset({"images", "video_generation", "speech", "embeddings"})
OTHER_GATEWAY_KEY = "sk-gateway-conformance-other"


class MediaConformance:
    """The conformance suite for media-task plugins (video or image generation).

    Subclass it with `provider`, `entry_point`, `model`, `kind` ("video" or "image"),
    `vendor_key` (what the fake accepts) and `make_fake()`: a started-on-demand fake whose tasks
    reach success on their own when polled (its `url` is the base URL to configure, unless
    `base_url(fake)` says otherwise). The suite submits a task through the gateway's unified
    route, lets the background poller finish it, and checks the task object, the content route,
    key binding and that the vendor key never shows.
    """

    provider: str
    entry_point: str
    model: str
    kind: str = "video"
    vendor_key: str = VENDOR_KEY

    def make_fake(self) -> Any:
        raise NotImplementedError

    def base_url(self, fake: Any) -> str:
        return str(fake.url)

    @pytest.fixture
    def vendor(self) -> Iterator[Any]:
        fake = self.make_fake()
        fake.start()
        yield fake
        fake.stop()

    @pytest.fixture
    def gateway(self, vendor: Any) -> Iterator[GatewayHandle]:
        config = {
            "server": {"state_path": ":memory:"},
            "auth": {"keys": [GATEWAY_KEY, OTHER_GATEWAY_KEY]},
            "models": [{"name": "conformance-model", "provider": self.provider, "model": self.model,
                        "base_url": self.base_url(vendor), "api_key": self.vendor_key}],
            "tasks": {"poll_intervals": {self.provider: 0.05}, "jitter": 0.0},
        }
        handle = start_gateway(config, env={})
        yield handle
        handle.stop()

    def test_loads_through_its_entry_point(self) -> None:
        plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": self.entry_point})
        assert not plugins.failures, plugins.failures
        entry = plugins.provider(self.provider)
        assert entry is not None and entry.plugin == self.entry_point

    def test_provider_spec_is_well_formed(self) -> None:
        entry = load_plugins({"RELAYPORT_LOAD_PLUGINS": self.entry_point}).provider(self.provider)
        assert entry is not None
        spec = entry.spec
        assert spec.base_url.startswith("https://")
        assert spec.key_env
        assert spec.capabilities <= KNOWN_CAPABILITIES, spec.capabilities - KNOWN_CAPABILITIES
        assert spec.capabilities & MEDIA_CAPABILITIES, "a media plugin declares its media capabilities"

    def test_task_runs_to_its_content(self, vendor: Any, gateway: GatewayHandle) -> None:
        import time

        import httpx

        route = "/v1/videos/generations" if self.kind == "video" else "/v1/images/generations"
        headers = {"Authorization": f"Bearer {GATEWAY_KEY}"}
        r = httpx.post(gateway.url + route, headers=headers, timeout=30,
                       json={"model": "conformance-model", "prompt": "a conformance test", "async": True})
        assert r.status_code == 200, r.text
        task = r.json()
        assert task["id"].startswith("task_") and task["task_id"] == task["id"]
        assert task["status"] in ("queued", "running", "succeeded")
        deadline = time.time() + 20
        while task["status"] not in ("succeeded", "failed", "cancelled") and time.time() < deadline:
            time.sleep(0.05)
            task = httpx.get(f"{gateway.url}{route}/{task['id']}", headers=headers, timeout=30).json()
        assert task["status"] == "succeeded", task
        assert task["progress"] == 100 and task["error"] is None and task["vendor"] is not None
        assert set(task) >= {"model", "created_at", "updated_at", "completed_at", "result", "usage"}
        content = httpx.get(task["result"]["outputs"][0]["url"], headers=headers, timeout=30)
        assert content.status_code == 200 and content.content
        part = httpx.get(task["result"]["outputs"][0]["url"], headers={**headers, "Range": "bytes=0-0"},
                         timeout=30)
        assert part.status_code == 206 and part.content == content.content[:1]
        other = httpx.get(f"{gateway.url}{route}/{task['id']}",
                          headers={"Authorization": f"Bearer {OTHER_GATEWAY_KEY}"}, timeout=30)
        assert other.status_code == 404
        for text in (r.text, orjson.dumps(task).decode()):
            assert self.vendor_key not in text

    def test_keys_never_shown(self, gateway: GatewayHandle) -> None:
        import httpx

        r = httpx.get(gateway.url + "/-/plugins", headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=30)
        assert r.status_code == 200
        assert self.vendor_key not in r.text and GATEWAY_KEY not in r.text
