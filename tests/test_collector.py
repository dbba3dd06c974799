"""The gateway's cyclic-collector settings while serving (relayport.server.lifecycle)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from relayport.server import lifecycle


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    kept = [[i] for i in range(1000)]  # what a server made while starting
    gc.unfreeze()
    lifecycle.settle_collector()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == lifecycle.YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_collector")
def test_cyclic_garbage_made_while_serving_is_still_freed() -> None:
    lifecycle.settle_collector()
    freed: list[int] = []

    class Node:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            freed.append(1)

    for _ in range(lifecycle.YOUNG_THRESHOLD + 100):  # past the threshold without an explicit collect
        Node()
        [[] for _ in range(3)]  # the other containers a call makes and frees
    assert freed, "no collection ran after YOUNG_THRESHOLD new cyclic objects"
