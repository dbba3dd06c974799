"""Per-key request and token rates over a sliding minute, and the errors a key's limits give.

Counted in this process: several gateway instances sharing a store each allow a key its full
rate (balances and budgets, which live in the store, are shared).
"""

from __future__ import annotations

import math
from collections import deque

from relayport.model.errors import GatewayError

WINDOW = 60.0


def duration(seconds: float) -> str:
    """OpenAI's spelling of a reset time: `20ms`, `1s`, `6m0s`."""
    if seconds < 1:
        return f"{max(1, int(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class Window:
    """Amounts (1 per request, or tokens) seen in the last minute, in per-second buckets (at
    most 61 whatever the rate). A bucket counts as of the end of its second, so it leaves the
    window late rather than early: the limit is never exceeded over any 60 seconds."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[list[float]] = deque()  # [end of the second, amount]
        self.total = 0

    def used(self, now: float) -> int:
        entries = self.entries
        cutoff = now - WINDOW
        while entries and entries[0][0] <= cutoff:
            self.total -= int(entries.popleft()[1])
        return self.total

    def add(self, now: float, amount: int) -> None:
        if amount:
            entries = self.entries
            end = float(int(now) + 1)
            if entries and entries[-1][0] == end:
                entries[-1][1] += amount
            else:
                entries.append([end, amount])
            self.total += amount

    def reset_in(self, now: float, limit: int) -> float:
        """Seconds until enough of the window has passed for one more unit under `limit`."""
        over = self.total - limit + 1
        for at, amount in self.entries:
            over -= int(amount)
            if over <= 0:
                return max(0.0, at + WINDOW - now)
        return WINDOW


def rate_limited(kind: str, limit: int, used: int, reset: float, name: str) -> GatewayError:
    """The 429 for `kind` ("requests" or "tokens"), with OpenAI's rate-limit headers."""
    unit = "RPM" if kind == "requests" else "TPM"
    err = GatewayError(
        429,
        f"Rate limit reached for key {name!r} on {kind} per min ({unit}): limit {limit}, used {used}. "
        f"Please try again in {duration(reset)}.",
        type=kind, code="rate_limit_exceeded", retry_after=reset,
    )
    err.headers.update({
        f"x-ratelimit-limit-{kind}": str(limit),
        f"x-ratelimit-remaining-{kind}": str(max(0, limit - used)),
        f"x-ratelimit-reset-{kind}": duration(reset),
        "Retry-After": str(max(1, math.ceil(reset))),
    })
    return err


def too_many_at_once(limit: int, name: str) -> GatewayError:
    err = GatewayError(429, f"Key {name!r} has {limit} calls in flight, its max_concurrency; "
                            "wait for one to finish.", code="concurrency_limit_exceeded", retry_after=1.0)
    err.headers["Retry-After"] = "1"
    return err


def out_of_funds(name: str, balance: bool) -> GatewayError:
    what = "prepaid balance is used up; top it up" if balance else "budget for this period is spent"
    return GatewayError(402, f"Key {name!r}: the {what} to make more calls.",
                        type="insufficient_quota", code="insufficient_quota")


def model_not_allowed(model: str, name: str) -> GatewayError:
    return GatewayError(403, f"Key {name!r} may not use model {model!r}.", type="permission_error",
                        code="model_not_allowed", param="model")
