"""Model names -> deployments.

A name resolves, in order, to: the deployments the config lists under it; `provider/model`
for an installed provider whose key is set; the first provider whose model patterns match
and whose key is set. `resolve` orders them for one call (see `Route`): priority tiers, the
`[router]` strategy within a tier, deployments that cool down (circuit open) at the end of
their name, then the `[router] fallbacks` names. What the gateway does with a failure is in
`relayport.retries`; the health each deployment carries between calls is `Health`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import os
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from relayport.calls import caller
from relayport.config import FALLBACK_TABLES, Config, ConfigError, ModelConfig, RouterConfig
from relayport.error_kinds import CONTENT_POLICY, CONTEXT_WINDOW, fallback_kind
from relayport.model.errors import GatewayError
from relayport.plugins import PluginSet, ProviderEntry
from relayport.provider import Deployment, Timeouts
from relayport.secrets import Secret, resolve_secret
from relayport.upstream import env_proxy

_MAX_DYNAMIC = 1024


def _env_key(entry: ProviderEntry, env: Mapping[str, str]) -> Secret | None:
    for name in entry.spec.key_env:
        if env.get(name):
            return Secret(env[name])
    return None


# Weight of the newest time-to-first-byte sample in a deployment's moving average.
_EWMA = 0.2


@attrs.define(eq=False)
class Health:
    """What the router remembers about one deployment between calls (no key in here)."""

    label: str
    weight: float | None = None
    priority: int = 0
    failures: int = 0  # in a row
    open_until: float = 0.0  # circuit breaker: no calls before this (monotonic seconds)
    wait_until: float = 0.0  # the vendor asked us to wait (Retry-After) until then
    probing: bool = False  # the one half-open call after a cooldown is under way
    in_flight: int = 0
    ttfb: float | None = None  # EWMA of seconds to first byte
    calls: int = 0
    errors: int = 0
    # `max_concurrency`: a slot per call in flight (None: no cap, nothing to pay per call).
    slots: asyncio.Semaphore | None = None
    limit: int | None = None

    def cooling(self, now: float) -> bool:
        return self.open_until > now or self.wait_until > now or self.probing

    def state(self, now: float) -> str:
        if self.open_until > now:
            return "open"
        if self.probing or (self.open_until and self.failures):
            return "half-open"
        return "closed"


class Route(list[Deployment]):
    """The deployments for one call in the order they may serve it, with the call's state.

    `groups[i]` is 0 for the requested name and n for its n-th fallback name (each has its
    own attempt budget); `tiers[i]` the deployment's priority. `failed` holds the ids of
    deployments that failed in this call; `attempts` counts upstream attempts so far.
    """

    groups: list[int]
    tiers: list[int]
    cooling: set[int]  # ids of deployments that were cooling down when the call began
    failed: set[int]
    attempts: int
    used: int  # attempts spent on the current group
    retries: int  # retries of one deployment after a backoff, for the next backoff's length
    # The running attempt's deadline (`[router] deadline`), lifted once its answer starts.
    timer: asyncio.Timeout | None = None
    # The running attempt is answering the client itself (a passthrough stream) and records
    # its own end, a client that goes away included.
    answering: bool = False

    @classmethod
    def of(cls, deps: Iterable[Deployment], groups: list[int] | None = None,
           tiers: list[int] | None = None) -> Route:
        route = cls(deps)
        route.groups = groups if groups is not None else [0] * len(route)
        route.tiers = tiers if tiers is not None else [0] * len(route)
        route.failed, route.cooling, route.attempts, route.used, route.retries = set(), set(), 0, 0, 0
        route.timer = None
        route.answering = False
        return route

    def rest(self, start: int) -> Route:
        """The route from `start` on, sharing this call's state (passthrough -> translation)."""
        route = Route.of(self[start:], self.groups[start:], self.tiers[start:])
        route.failed, route.cooling = self.failed, self.cooling
        route.attempts, route.used = self.attempts, self.used
        return route


def weighted_order(deps: list[Deployment], weights: list[float], rng: random.Random) -> list[Deployment]:
    """A random order where each deployment comes first with probability weight/sum.

    (Efraimidis-Spirakis: sort by u ** (1/w); the rest of the order is the fallback order.)
    """
    return _by_draws(deps, weights, [rng.random() for _ in deps])


def sticky_order(deps: list[Deployment], weights: list[float], labels: list[str], key: str) -> list[Deployment]:
    """`weighted_order` with each deployment's draw a hash of (key, deployment): the same key
    always comes to the same deployment, keys spread by weight, and a deployment leaving the
    tier moves only its own keys (rendezvous hashing)."""
    draws = [(int.from_bytes(hashlib.blake2b(f"{key}\0{label}".encode(), digest_size=8).digest()) + 1)
             / (2**64 + 1) for label in labels]
    return _by_draws(deps, weights, draws)


def _by_draws(deps: list[Deployment], weights: list[float], draws: list[float]) -> list[Deployment]:
    keyed = sorted(zip((u ** (1.0 / w) for u, w in zip(draws, weights, strict=True)), range(len(deps)),
                       strict=True), reverse=True)
    return [deps[i] for _, i in keyed]


def sticky_key(body: dict[str, Any]) -> str | None:
    """What ties a conversation to a deployment: OpenAI's `prompt_cache_key`, `user`, or a
    session id in `metadata` (Anthropic's `metadata.user_id` too)."""
    key = body.get("prompt_cache_key") or body.get("user")
    if isinstance(key, str) and key:
        return key
    meta = body.get("metadata")
    if isinstance(meta, dict):
        key = meta.get("session_id") or meta.get("user_id")
        if isinstance(key, str) and key:
            return key
    return None


class Router:
    def __init__(self, config: Config, plugins: PluginSet, env: Mapping[str, str] | None = None,
                 rng: random.Random | None = None) -> None:
        self._env = os.environ if env is None else env
        self._plugins = plugins
        self.config: RouterConfig = config.router
        self._rng = rng or random.Random()
        self._named: dict[str, list[Deployment]] = {}
        self._dynamic: dict[str, list[Deployment]] = {}
        self._health: dict[int, Health] = {}
        # name -> its deployments grouped by priority, lowest first
        self._tiers: dict[str, list[list[Deployment]]] = {}
        # `[router] max_connections`: one slot per upstream call in flight, all deployments.
        self.gate = asyncio.Semaphore(self.config.max_connections) if self.config.max_connections else None
        # Anything to wait for before a call (a cap somewhere): the hot path's one test.
        self.limited = self.gate is not None or any(m.max_concurrency for m in config.models)
        # Names with more than one deployment in a tier: only they read a sticky key.
        self.spread: set[str] = set()
        # Names with a context-window or content-policy fallback list (see `extend`).
        self.extendable = {*self.config.context_window_fallbacks, *self.config.content_policy_fallbacks}
        problems: list[str] = []
        for i, m in enumerate(config.models):
            entry = plugins.provider(m.provider)
            if entry is None:
                installed = ", ".join(sorted(plugins.providers)) or "none"
                problems.append(
                    f"models[{i}] ({m.name!r}): provider {m.provider!r} is not installed "
                    f"(installed providers: {installed})"
                )
                continue
            if not (m.base_url or entry.spec.base_url):
                problems.append(f"models[{i}] ({m.name!r}): provider {m.provider!r} needs base_url")
                continue
            dep = self._from_config(m, entry)
            self._named.setdefault(m.name, []).append(dep)
            self._health[id(dep)] = Health(self._label(dep), m.weight, m.priority,
                                           slots=asyncio.Semaphore(m.max_concurrency) if m.max_concurrency else None,
                                           limit=m.max_concurrency)
        for name, deps in self._named.items():
            priorities = sorted({self._health[id(d)].priority for d in deps})
            self._tiers[name] = [[d for d in deps if self._health[id(d)].priority == p] for p in priorities]
            if any(len(tier) > 1 for tier in self._tiers[name]) and self.config.sticky:
                self.spread.add(name)
        for table in FALLBACK_TABLES:
            for name, others in getattr(self.config, table).items():
                for other in others:
                    try:
                        self._named.get(other) or self._resolve_dynamic(other)
                    except GatewayError:
                        problems.append(f"router.{table}.{name}: {other!r} is not a model this gateway serves")
        if problems:
            raise ConfigError(f"{config.source}:\n  " + "\n  ".join(problems))

    def _label(self, dep: Deployment) -> str:
        """How headers and `/-/deployments` name a deployment: provider/model, plus its place
        among the name's deployments when there are several (never the key or the URL)."""
        same = sum(1 for d in self._named.get(dep.name, ())
                   if d is not dep and d.provider is dep.provider and d.model == dep.model)
        return f"{dep.provider.name}/{dep.model}" + (f"#{same + 1}" if same else "")

    def _from_config(self, m: ModelConfig, entry: ProviderEntry) -> Deployment:
        key = resolve_secret(m.api_key, dict(self._env)) if m.api_key else _env_key(entry, self._env)
        return Deployment(
            name=m.name,
            provider=entry.spec,
            model=m.model or m.name,
            base_url=m.base_url or entry.spec.base_url,
            api_key=key,
            hooks=entry.hooks,
            proxy=m.proxy or env_proxy(m.base_url or entry.spec.base_url),
            timeouts=m.timeouts,
            options=m.options,
            headers=m.headers,
        )

    def names(self) -> list[tuple[str, Deployment]]:
        """The configured model names, each with its first deployment."""
        return [(name, deps[0]) for name, deps in self._named.items()]

    def deployments(self) -> list[Deployment]:
        """Every deployment made so far, configured and resolved on demand."""
        return [d for deps in (*self._named.values(), *self._dynamic.values()) for d in deps]

    def resolve(self, name: str, sticky: str | None = None) -> Route:
        """The deployments that may serve `name` in the order to try them; 404 when none.

        With a `sticky` key (see `sticky_key`), each tier's healthy deployments come in the
        key's own order instead of a fresh draw.
        """
        if (current := caller.get()) is not None:
            current.admit(name)  # the calling key's allow-list, budget and rates
        fallbacks = self.config.fallbacks.get(name)
        tiers = self._tiers.get(name)
        if tiers is None and not fallbacks:
            deps = self._dynamic.get(name) or self._resolve_dynamic(name)
            return Route.of(deps)
        now = time.monotonic()
        order: list[Deployment] = []
        groups: list[int] = []
        prios: list[int] = []
        for g, each in enumerate((name, *(fallbacks or ()))):
            cooling: list[Deployment] = []
            for tier in self._tiers.get(each) or [self._dynamic.get(each) or self._resolve_dynamic(each)]:
                for dep in (self._order(tier) if sticky is None else self._stick(tier, sticky)):
                    if self.health(dep).cooling(now):
                        cooling.append(dep)
                        continue
                    order.append(dep)
                    groups.append(g)
                    prios.append(self.health(dep).priority)
            for dep in cooling:  # still tried when nothing else is left, as a last resort
                order.append(dep)
                groups.append(g)
                prios.append(self.health(dep).priority)
        route = Route.of(order, groups, prios)
        route.cooling.update(id(d) for d, g in zip(order, groups, strict=True) if self.health(d).cooling(now))
        return route

    def _order(self, tier: list[Deployment]) -> list[Deployment]:
        if len(tier) == 1:
            return tier
        health = [self.health(d) for d in tier]
        strategy = self.config.strategy
        if strategy == "least-busy":
            return [tier[i] for i in sorted(range(len(tier)), key=lambda i: health[i].in_flight)]
        if strategy == "latency":
            # Unmeasured deployments first, so each gets measured.
            return [tier[i] for i in sorted(range(len(tier)), key=lambda i: health[i].ttfb or 0.0)]
        if all(h.weight is None for h in health):
            return tier  # no weights: config order, as before weights existed
        return weighted_order(tier, [h.weight or 1.0 for h in health], self._rng)

    def _stick(self, tier: list[Deployment], key: str) -> list[Deployment]:
        if len(tier) == 1:
            return tier
        health = [self.health(d) for d in tier]
        return sticky_order(tier, [h.weight or 1.0 for h in health], [h.label for h in health], key)

    def extend(self, route: Route, i: int, exc: GatewayError) -> int | None:
        """After `route[i]` failed with a context-window or content-policy error: add the
        names of the matching `[router]` list as new groups; the index to go on at, or None."""
        kind = fallback_kind(exc)
        if kind is None:
            return None
        table = {CONTEXT_WINDOW: self.config.context_window_fallbacks,
                 CONTENT_POLICY: self.config.content_policy_fallbacks}[kind]
        others = table.get(route[i].name)
        if not others:
            return None
        start = len(route)
        present = {d.name for d in route}
        for other in others:
            if other in present:
                continue
            group = max(route.groups) + 1
            for tier in self._tiers.get(other) or [self._dynamic.get(other) or self._resolve_dynamic(other)]:
                for dep in self._order(tier):
                    route.append(dep)
                    route.groups.append(group)
                    route.tiers.append(self.health(dep).priority)
        if len(route) == start:
            return None
        route.used = route.retries = 0
        return start

    async def admit(self, h: Health, wait: float) -> None:
        """Take a connection slot and one of the deployment's, waiting up to `wait` seconds for
        the deployment's (the gateway-wide one always gets `queue_timeout`): 429 when the
        deployment stays full, 503 when the gateway does."""
        gate = self.gate
        if gate is not None and not await _take(gate, self.config.queue_timeout):
            raise GatewayError(503, "The gateway is at its limit of upstream connections "
                               "(router.max_connections); try again shortly.",
                               code="gateway_busy", retry_after=1.0)
        slots = h.slots
        if slots is not None and not await _take(slots, wait):
            if gate is not None:
                gate.release()
            raise GatewayError(429, f"{h.label} is serving as many calls as its max_concurrency "
                               "allows; try again shortly.", type="rate_limit_error",
                               code="deployment_busy", retryable=True, retry_after=1.0)

    def health(self, dep: Deployment) -> Health:
        h = self._health.get(id(dep))
        if h is None:  # resolved on demand, or made by a test
            h = self._health[id(dep)] = Health(f"{dep.provider.name}/{dep.model}")
        return h

    # ------------------------------------------------------------------ outcomes

    def begin(self, dep: Deployment) -> Health:
        h = self.health(dep)
        h.in_flight += 1
        h.calls += 1
        if h.open_until and h.failures and not h.probing and h.open_until <= time.monotonic():
            h.probing = True  # the half-open probe: other calls skip it until it answers
        return h

    def release(self, h: Health) -> None:
        """The call `begin` counted ended; its slots (when capped) go to the next in line."""
        h.in_flight = max(0, h.in_flight - 1)
        if self.limited:
            if h.slots is not None:
                h.slots.release()
            if self.gate is not None:
                self.gate.release()

    def succeeded(self, h: Health, seconds: float) -> None:
        h.failures = 0
        h.open_until = 0.0
        h.probing = False
        h.ttfb = seconds if h.ttfb is None else h.ttfb + _EWMA * (seconds - h.ttfb)

    def failed(self, h: Health, exc: GatewayError) -> None:
        """Count a failure; open the breaker after `failures` in a row or on a dead key."""
        h.errors += 1
        now = time.monotonic()
        if exc.retryable:
            h.failures += 1
            if exc.retry_after:
                h.wait_until = max(h.wait_until, now + exc.retry_after)
        if exc.retryable and (h.failures >= self.config.failures or h.probing) or key_is_dead(exc):
            h.failures = max(h.failures, 1)
            h.open_until = now + self.config.cooldown
        h.probing = False

    def down(self) -> list[str]:
        """The configured names whose every deployment cools down (for `/readyz`)."""
        now = time.monotonic()
        return [name for name, deps in self._named.items() if all(self.health(d).cooling(now) for d in deps)]

    def snapshot(self) -> list[dict[str, Any]]:
        """Every deployment's routing state, for `GET /-/deployments` (no keys, no URLs)."""
        now = time.monotonic()
        out = []
        for dep in self.deployments():
            h = self.health(dep)
            out.append({
                "name": dep.name, "deployment": h.label, "provider": dep.provider.name, "model": dep.model,
                "priority": h.priority, "weight": h.weight, "state": h.state(now),
                "cooldown_remaining": round(max(0.0, h.open_until - now, h.wait_until - now), 3),
                "consecutive_failures": h.failures, "in_flight": h.in_flight, "max_concurrency": h.limit,
                "calls": h.calls,
                "errors": h.errors, "ttfb_ms": None if h.ttfb is None else round(h.ttfb * 1000, 1),
            })
        return out

    def explain(self) -> list[str]:
        """The routing table in words, for `relayport check`."""
        c = self.config
        lines = [f"router: strategy {c.strategy}, max_attempts {c.max_attempts}, "
                 f"breaker after {c.failures} failures for {c.cooldown:g} s"
                 + (", sticky keys" if c.sticky else "")
                 + (f", deadline {c.deadline:g} s" if c.deadline else "")
                 + (f", max_connections {c.max_connections}" if c.max_connections else "")]
        labels = {"fallbacks": "fallbacks", "context_window_fallbacks": "on context window exceeded",
                  "content_policy_fallbacks": "on content policy"}
        for name, tiers in self._tiers.items():
            lines.append(f"{name}:")
            for tier in tiers:
                hs = [self.health(d) for d in tier]
                shares = "" if all(h.weight is None for h in hs) else " (weighted)"
                parts = ", ".join(h.label + ("" if h.weight is None else f" weight {h.weight:g}")
                                  + ("" if h.limit is None else f" max {h.limit} in flight")
                                  for h in hs)
                lines.append(f"  priority {hs[0].priority}{shares}: {parts}")
            for table in FALLBACK_TABLES:
                others = getattr(c, table).get(name)
                if others:
                    lines.append(f"  {labels[table]}: {' -> '.join(others)}")
        for table in FALLBACK_TABLES:
            for name, others in getattr(c, table).items():
                if name not in self._tiers:
                    lines.append(f"{name} (resolved on demand): {labels[table]} {' -> '.join(others)}")
        return lines

    def _resolve_dynamic(self, name: str) -> list[Deployment]:
        provider, sep, model = name.partition("/")
        entry = self._plugins.provider(provider) if sep and model else None
        if entry is not None:
            return self._remember(name, entry, model)
        for entry in self._plugins.providers.values():
            if any(fnmatch.fnmatchcase(name, p) for p in entry.spec.model_patterns) and (
                _env_key(entry, self._env) is not None or not entry.spec.key_env
            ):
                return self._remember(name, entry, name)
        raise GatewayError(
            404,
            f"The model '{name}' does not exist or is not served by this gateway.",
            type="invalid_request_error",
            code="model_not_found",
            param="model",
        )

    def _remember(self, name: str, entry: ProviderEntry, model: str) -> list[Deployment]:
        if not entry.spec.base_url:
            raise GatewayError(404, f"The model '{name}' needs provider '{entry.spec.name}', which has "
                               "no default base_url: configure the model in [[models]].",
                               type="invalid_request_error", code="model_not_found", param="model")
        key = _env_key(entry, self._env)
        if key is None and entry.spec.key_env:
            raise GatewayError(
                404,
                f"The model '{name}' needs provider '{entry.spec.name}', which has no key: "
                f"set {' or '.join(entry.spec.key_env)}.",
                type="invalid_request_error",
                code="model_not_found",
                param="model",
            )
        deps = [
            Deployment(name=name, provider=entry.spec, model=model, base_url=entry.spec.base_url,
                       api_key=key, hooks=entry.hooks, timeouts=Timeouts(),
                       proxy=env_proxy(entry.spec.base_url))
        ]
        if len(self._dynamic) < _MAX_DYNAMIC:
            self._dynamic[name] = deps
        return deps


async def _take(sem: asyncio.Semaphore, wait: float) -> bool:
    if not sem.locked():
        await sem.acquire()  # a free slot: taken without suspending
        return True
    if wait <= 0:
        return False
    try:
        async with asyncio.timeout(wait):
            await sem.acquire()
    except TimeoutError:
        return False
    return True


def key_is_dead(exc: GatewayError) -> bool:
    """401/403/quota exhausted: retrying this deployment cannot help until someone acts."""
    return exc.status in (401, 402, 403) or exc.code == "insufficient_quota" or exc.type == "insufficient_quota"
