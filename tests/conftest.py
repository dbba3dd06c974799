from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_echo import FakeEcho


@pytest.fixture
def fake_echo() -> Iterator[FakeEcho]:
    fake = FakeEcho().start()
    yield fake
    fake.stop()
