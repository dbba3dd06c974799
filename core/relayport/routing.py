"""Model names -> deployments.

A name resolves, in order, to: the deployments the config lists under it; `provider/model`
for an installed provider whose key is set; the first provider whose model patterns match
and whose key is set. `resolve` orders them for one call (see `Route`): priority tiers, the
`[router]` strategy within a tier, deployments that cool down (circuit open) at the end of
their name, then the `[router] fallbacks` names. What the gateway does with a failure is in
`relayport.retries`; the health each deployment carries between calls is `Health`.
"""

from __future__ import annotations

import fnmatch
import os
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from relayport.calls import admission
from relayport.config import Config, ConfigError, ModelConfig, RouterConfig
from relayport.model.errors import GatewayError
from relayport.plugins import PluginSet, ProviderEntry
from relayport.provider import Deployment, Timeouts
from relayport.secrets import Secret, resolve_secret
from relayport.upstream import env_proxy

DEFAULT_COOLDOWN = 5.0
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

    @classmethod
    def of(cls, deps: Iterable[Deployment], groups: list[int] | None = None,
           tiers: list[int] | None = None) -> Route:
        route = cls(deps)
        route.groups = groups if groups is not None else [0] * len(route)
        route.tiers = tiers if tiers is not None else [0] * len(route)
        route.failed, route.cooling, route.attempts, route.used, route.retries = set(), set(), 0, 0, 0
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
    keyed = sorted(zip((rng.random() ** (1.0 / w) for w in weights), range(len(deps)), strict=True),
                   reverse=True)
    return [deps[i] for _, i in keyed]


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
            self._health[id(dep)] = Health(self._label(dep), m.weight, m.priority)
        for name, deps in self._named.items():
            priorities = sorted({self._health[id(d)].priority for d in deps})
            self._tiers[name] = [[d for d in deps if self._health[id(d)].priority == p] for p in priorities]
        for name, others in self.config.fallbacks.items():
            for other in others:
                try:
                    self._named.get(other) or self._resolve_dynamic(other)
                except GatewayError:
                    problems.append(f"router.fallbacks.{name}: {other!r} is not a model this gateway serves")
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

    def resolve(self, name: str) -> Route:
        """The deployments that may serve `name` in the order to try them; 404 when none."""
        if (admit := admission.get()) is not None:
            admit(name)  # the calling key's allow-list, budget and rates
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
                for dep in self._order(tier):
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

    def release(self, dep: Deployment) -> None:
        h = self.health(dep)
        h.in_flight = max(0, h.in_flight - 1)

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
                "consecutive_failures": h.failures, "in_flight": h.in_flight, "calls": h.calls,
                "errors": h.errors, "ttfb_ms": None if h.ttfb is None else round(h.ttfb * 1000, 1),
            })
        return out

    def explain(self) -> list[str]:
        """The routing table in words, for `relayport check`."""
        lines = [f"router: strategy {self.config.strategy}, max_attempts {self.config.max_attempts}, "
                 f"breaker after {self.config.failures} failures for {self.config.cooldown:g} s"]
        for name, tiers in self._tiers.items():
            lines.append(f"{name}:")
            for tier in tiers:
                hs = [self.health(d) for d in tier]
                shares = "" if all(h.weight is None for h in hs) else " (weighted)"
                parts = ", ".join(h.label + ("" if h.weight is None else f" weight {h.weight:g}") for h in hs)
                lines.append(f"  priority {hs[0].priority}{shares}: {parts}")
            if name in self.config.fallbacks:
                lines.append(f"  fallbacks: {' -> '.join(self.config.fallbacks[name])}")
        for name, others in self.config.fallbacks.items():
            if name not in self._tiers:
                lines.append(f"{name} (resolved on demand): fallbacks {' -> '.join(others)}")
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

    def cool_down(self, deployment: Deployment, seconds: float | None) -> None:
        """Keep a deployment at the back for a while (media routes' simple fallback loop)."""
        h = self.health(deployment)
        h.wait_until = max(h.wait_until, time.monotonic() + (seconds or DEFAULT_COOLDOWN))


def key_is_dead(exc: GatewayError) -> bool:
    """401/403/quota exhausted: retrying this deployment cannot help until someone acts."""
    return exc.status in (401, 402, 403) or exc.code == "insufficient_quota" or exc.type == "insufficient_quota"
