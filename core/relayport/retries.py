"""Where a call goes after a failed attempt, and how long it waits first.

Order of preference (see `next_attempt`): another deployment of the same name and tier that
has not failed in this call; a later deployment of the same name (a lower tier, then those
cooling down); the same deployment again after an exponential backoff with jitter (or the
vendor's own Retry-After, when it is no longer than `max_backoff`); then the next fallback
name, which gets its own `max_attempts`. Errors retrying cannot fix are never retried, and a
retry never happens once the client got a byte (the gateway only calls this before).
"""

from __future__ import annotations

import random

from relayport.config import RouterConfig
from relayport.model.errors import GatewayError
from relayport.routing import Health, Route


def backoff(config: RouterConfig, retries: int, exc: GatewayError, rng: random.Random = random._inst) -> float | None:  # type: ignore[attr-defined]
    """Seconds before retrying the same deployment; None when the vendor wants a longer wait."""
    if exc.retry_after is not None:
        return exc.retry_after if exc.retry_after <= config.max_backoff else None
    # "Equal jitter": half the exponential step is fixed, half random, so concurrent calls
    # that failed together do not come back together.
    step = min(config.max_backoff, config.backoff * 2 ** retries)
    return step / 2 + rng.random() * step / 2


def next_attempt(route: Route, i: int, exc: GatewayError, health: Health, config: RouterConfig,
                 now: float) -> tuple[int, float] | None:
    """(index in `route`, seconds to wait) for the next attempt after `route[i]` failed."""
    if not exc.retryable:
        return None
    group, tier = route.groups[i], route.tiers[i]
    if route.used < config.max_attempts:
        later = None
        for j, dep in enumerate(route):
            if route.groups[j] != group or id(dep) in route.failed:
                continue
            if route.tiers[j] == tier and id(dep) not in route.cooling:
                return j, 0.0
            if later is None and j > i:
                later = j
        if later is not None:
            return later, 0.0
        if config.retry_same and health.open_until <= now:
            wait = backoff(config, route.retries, exc)
            if wait is not None:
                route.retries += 1
                return i, wait
    for j in range(i + 1, len(route)):
        if route.groups[j] > group:
            route.used = 0
            route.retries = 0
            return j, 0.0
    return None
