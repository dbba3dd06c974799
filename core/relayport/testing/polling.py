"""Waiting in tests for something the gateway does in the background (a poller, a result copy)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(fn: Callable[[], T], timeout: float = 10.0, every: float = 0.05) -> T:
    """Call `fn` until it returns something truthy, and return that; fail after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)
