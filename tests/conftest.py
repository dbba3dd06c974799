from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from relayport.testing.plugin import StartGateway, gateways
from tests.fake_echo import FakeEcho

# The client matrix (tests/clients) needs the client libraries nox's `clients` session installs.
collect_ignore = [] if os.environ.get("RELAYPORT_CLIENT_MATRIX") else ["clients"]


@pytest.fixture
def fake_echo() -> Iterator[FakeEcho]:
    fake = FakeEcho().start()
    yield fake
    fake.stop()


@pytest.fixture
def relayport_gateway() -> Iterator[StartGateway]:
    """The core's own tests run the router with its real defaults (retries, fallback), unlike
    the kit's fixture, which makes plugins' tests single-attempt (tests/test_kit_fixture.py)."""
    with gateways(single_attempt=False) as start:
        yield start
