"""Per-key request and token rates over a sliding minute, and the errors a key's limits give.

Counted in this process: several gateway instances sharing a store each allow a key its full
rate (balances and budgets, which live in the store, are shared).
"""

from __future__ import annotations

import math
from collections import deque

from relayport.model.errors import GatewayError

WINDOW = 60  # seconds


def duration(seconds: float) -> str:
    """OpenAI's spelling of a reset time: `20ms`, `1s`, `6m0s`."""
    if seconds < 1:
        return f"{max(1, int(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class Rates:
    """One key's requests and tokens in the last minute, in per-second buckets (at most 61
    whatever the rate). A bucket counts as of the end of its second, so it leaves the window late
    rather than early: a limit is never exceeded over any 60 seconds.

    Buckets end on whole seconds, so which of them have left the window changes only when the
    second does: a call in the same second as the last one finds its bucket and the totals
    ready, and checks and counts itself in one method call (`admit`)."""

    __slots__ = ("buckets", "requests", "tokens", "_second", "_bucket")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [end of the second, requests, tokens]
        self.requests = 0
        self.tokens = 0
        self._second: int | None = None  # the second of the newest bucket, `_bucket`
        self._bucket: list[int] = []

    def _current(self, now: float) -> list[int]:
        """The bucket of `now`'s second, the totals counting only the last minute's buckets.
        (Callers on the request path compare the second themselves and call this only when it
        changed: a method call costs more than the comparison.)"""
        second = int(now)
        if second == self._second:
            return self._bucket
        buckets = self.buckets
        # A bucket ending at `end` (whole seconds) has left the window once end + WINDOW <= now,
        # that is, from the second end + WINDOW on.
        cutoff = second - WINDOW
        while buckets and buckets[0][0] <= cutoff:
            _, requests, tokens = buckets.popleft()
            self.requests -= requests
            self.tokens -= tokens
        self._second = second
        self._bucket = bucket = [second + 1, 0, 0]
        buckets.append(bucket)
        return bucket

    def admit(self, now: float, rpm: int | None, tpm: int | None, name: str) -> None:
        """Let one more request in, counted, or raise the 429 of the limit it would break (key
        `name`'s tokens per minute first: a request in that window would spend more)."""
        bucket = self._bucket if int(now) == self._second else self._current(now)
        if tpm is not None and self.tokens >= tpm:
            raise rate_limited("tokens", tpm, self.tokens, self.reset_in(now, 2, tpm), name)
        if rpm is not None:
            if self.requests >= rpm:
                raise rate_limited("requests", rpm, self.requests, self.reset_in(now, 1, rpm), name)
            bucket[1] += 1
            self.requests += 1

    def add_tokens(self, now: float, tokens: int) -> None:
        bucket = self._bucket if int(now) == self._second else self._current(now)
        bucket[2] += tokens
        self.tokens += tokens

    def used(self, now: float) -> tuple[int, int]:
        """(requests, tokens) in the minute up to `now`."""
        self._current(now)
        return self.requests, self.tokens

    def reset_in(self, now: float, field: int, limit: int) -> float:
        """Seconds until enough of the window has passed for one more unit under `limit` of
        requests (`field` 1) or tokens (2)."""
        over = (self.requests if field == 1 else self.tokens) - limit + 1
        for bucket in self.buckets:
            over -= bucket[field]
            if over <= 0:
                return max(0.0, bucket[0] + WINDOW - now)
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
