"""pytest fixtures for relayport and plugin authors (loaded through the `pytest11` entry point)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from relayport.config import Config
from relayport.testing.fakes import FakeOpenAI, FakeUpstream
from relayport.testing.realtime import FakeOpenAIRealtime
from relayport.testing.servers import GatewayHandle, start_gateway

StartGateway = Callable[..., GatewayHandle]

# pytest-asyncio warns in every run whose config leaves this unset; a plugin's tests should not
# need a copy of the core's pytest settings to run quietly. A value the project sets wins.
_ASYNCIO_DEFAULTS = {"asyncio_default_fixture_loop_scope": "function"}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "relayport_needs(capability): a conformance check for providers "
                                       "declaring that capability (relayport.testing.conformance.needs)")
    cache = getattr(config, "_inicache", None)
    if not isinstance(cache, dict):
        return  # a pytest that keeps ini values elsewhere: the warning stays, nothing breaks
    for name, value in _ASYNCIO_DEFAULTS.items():
        try:
            unset = not config.getini(name)
        except ValueError:  # pytest-asyncio is not installed: nothing to quiet
            continue
        if unset:
            cache[name] = value


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the conformance checks a provider's capabilities rule out (`needs`): a check of
    image input does not apply to a text-only vendor, so it is not collected as a skip."""
    from relayport.testing.conformance import ProviderConformance

    declared: dict[tuple[type, str], bool] = {}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        mark = item.get_closest_marker("relayport_needs")
        cls = getattr(item, "cls", None)
        if mark is None or cls is None or not issubclass(cls, ProviderConformance):
            keep.append(item)
            continue
        capability = mark.args[0]
        if (cls, capability) not in declared:
            declared[cls, capability] = cls().declares(capability)
        (keep if declared[cls, capability] else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@contextmanager
def gateways(single_attempt: bool = True) -> Iterator[StartGateway]:
    """What the `relayport_gateway` fixture yields: a function starting gateways on loopback,
    all stopped when the block ends. `single_attempt=False` keeps the router's own defaults
    (retries and fallback), for tests of the router itself."""
    started: list[GatewayHandle] = []

    def start(config: Config | Mapping[str, Any], env: Mapping[str, str] | None = None,
              **kwargs: Any) -> GatewayHandle:
        if not isinstance(config, Config):
            config = dict(config)
            server = dict(config.get("server") or {})
            server.setdefault("state_path", ":memory:")
            config["server"] = server
            if single_attempt:
                # One attempt per call unless the test asks for more: a plugin's test of a
                # vendor error sees that error, not the router's retries of it.
                router = dict(config.get("router") or {})
                router.setdefault("max_attempts", 1)
                config["router"] = router
        handle = start_gateway(config, env=env, **kwargs)
        started.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in started:
            handle.stop()


@pytest.fixture
def relayport_gateway() -> Iterator[StartGateway]:
    """Start gateways on loopback: `relayport_gateway(config_dict, env={...})` -> GatewayHandle.

    State goes to an in-memory SQLite database unless the config names a file; calls make a
    single attempt unless the config's `[router] max_attempts` says otherwise.
    """
    with gateways() as start:
        yield start


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """A recording fake server; script it with `push(Reply(...))`."""
    fake = FakeUpstream()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake OpenAI chat API; `fake_openai.base_url` is what the OpenAI SDK calls base_url."""
    fake = FakeOpenAI()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_openai_realtime() -> Iterator[FakeOpenAIRealtime]:
    """A fake OpenAI realtime API playing `relayport.testing.realtime.Script`; `base_url` as for the SDK."""
    fake = FakeOpenAIRealtime()
    fake.start()
    yield fake
    fake.stop()
