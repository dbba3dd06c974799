"""Identifiers the gateway makes up per call (request ids, response, item and chunk ids).

They must be unique, not secret: nothing is authorised by knowing one (stored responses are
bound to the key that made them). So they come from the `random` module's generator (seeded
from the OS at start, re-seeded in a forked child), not from `os.urandom`: that is a system
call per id, several per streamed call, for randomness nobody needs here.
"""

from __future__ import annotations

from random import getrandbits


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes as 2 * `nbytes` lowercase hex digits."""
    return f"{getrandbits(nbytes * 8):0{nbytes * 2}x}"
