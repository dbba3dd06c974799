"""Event loop choice shared by the mock and the forwarder.

The gateway runs on uvloop whenever it is installed (the `fast` extra). The
forwarder must run on the same loop, or the ratio measures uvloop against
asyncio instead of the gateway's own work; the mock uses it too because it
only makes the mock faster.
"""

from __future__ import annotations

import asyncio

CHOICES = ("auto", "uvloop", "asyncio")


def install(kind: str = "auto") -> str:
    """Set the event loop policy; returns the loop actually used."""
    if kind == "asyncio":
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def available() -> str:
    """What `install("auto")` would pick in this interpreter."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"
