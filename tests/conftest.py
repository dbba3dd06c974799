from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fake_echo import FakeEcho

# The client matrix (tests/clients) needs the client libraries nox's `clients` session installs.
collect_ignore = [] if os.environ.get("RELAYPORT_CLIENT_MATRIX") else ["clients"]


@pytest.fixture
def fake_echo() -> Iterator[FakeEcho]:
    fake = FakeEcho().start()
    yield fake
    fake.stop()
