"""Prometheus metrics: counters and histograms fed by call records, gauges read when scraped.

Needs prometheus-client (`pip install 'relayport[metrics]'`); without it `available()` is
False, no observer is registered and calls cost what they did. Each app has its own registry,
so several gateways in one process (tests) never share counts.

Per call the observer does one dict lookup for its label set and a few additions to plain
numbers, which become Prometheus families only when scraped. What the gateway already
tracks (in-flight attempts per deployment, tasks in the store) is read at scrape time too.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from relayport.accounts.money import from_units
from relayport.calls import CallRecord

if TYPE_CHECKING:
    from relayport.config import MetricsConfig
    from relayport.routing import Router
    from relayport.tasks.store import TaskStoreProtocol

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import Collector
except ImportError:  # the extra is not installed: /metrics says how to get it
    CollectorRegistry = None  # type: ignore[assignment,misc]
    Collector = object  # type: ignore[assignment,misc]

INSTALL_HINT = "pip install 'relayport[metrics]'"
# Usage fields counted in relayport_tokens_total, by the `type` label they get.
_TOKEN_TYPES = (("input", "input_tokens"), ("output", "output_tokens"), ("cached", "cached_tokens"),
                ("cache_write", "cache_write_tokens"), ("reasoning", "reasoning_tokens"))


def available() -> bool:
    return CollectorRegistry is not None


class _Histogram:
    """Counts per bucket (not cumulative: one increment per observation) and their sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def exposition(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip([*map(str, self.bounds), "+Inf"], self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


class _Series:
    """What one (model, provider, status) has seen; made on its first call."""

    __slots__ = ("requests", "latency", "ttft", "tokens", "cost")

    def __init__(self, config: MetricsConfig) -> None:
        self.requests = 0
        self.latency = _Histogram(config.latency_buckets)
        self.ttft = _Histogram(config.ttft_buckets)
        self.tokens = [0] * len(_TOKEN_TYPES)
        # Summed in money units (exact integers), turned into currency when scraped.
        self.cost = 0


class Metrics:
    """The gateway's metrics; `observe` is a `Gateway.observers` entry, `render` answers a scrape.

    Counts are plain numbers, changed only on the event loop (observers and scrapes both run
    there), and turned into Prometheus families when scraped: a call pays a dict lookup and a
    few additions, not prometheus-client's locks.
    """

    def __init__(self, config: MetricsConfig, router: Router) -> None:
        if CollectorRegistry is None:
            raise RuntimeError(f"prometheus-client is not installed: {INSTALL_HINT}")
        self.config = config
        self.series: dict[tuple[str, str, int], _Series] = {}
        self.errors: dict[tuple[str, str, str, str], int] = {}
        self.registry = CollectorRegistry()
        self._live = _LiveState(router, self)
        self.registry.register(self._live)

    def observe(self, rec: CallRecord) -> None:
        key = (rec.model, rec.provider, rec.status)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series(self.config)
        series.requests += 1
        if rec.error is not None:
            # 499: the client ended the call (went away, cancelled a task), not the vendor's
            # failure; counted in relayport_requests_total with its status only.
            if rec.status != 499:
                err = (rec.model, rec.provider, str(rec.status), rec.error)
                self.errors[err] = self.errors.get(err, 0) + 1
        else:
            series.latency.observe(rec.latency)
            if rec.ttfb is not None:
                series.ttft.observe(rec.ttfb)
        usage = rec.usage
        if usage is not None:
            tokens = series.tokens
            for i, (_, field) in enumerate(_TOKEN_TYPES):
                n = getattr(usage, field)
                if n:
                    tokens[i] += n
        cost = rec.cost_units  # set by the usage meter when prices are configured
        if cost:
            series.cost += cost

    async def render(self, tasks: TaskStoreProtocol | None) -> tuple[bytes, str]:
        """The exposition text and its content type; task counts are read from the store now."""
        self._live.tasks = await tasks.counts() if tasks is not None else []
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def families(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "relayport_requests", "Upstream attempts (each retry and fallback counts) by outcome.",
            labels=("model", "provider", "status"))
        latency = HistogramMetricFamily(
            "relayport_request_duration_seconds",
            "Seconds from an attempt's start to its answer's last byte (successful attempts).",
            labels=("model", "provider"))
        ttft = HistogramMetricFamily(
            "relayport_time_to_first_token_seconds",
            "Seconds from a stream's start to the vendor's first bytes (successful streams).",
            labels=("model", "provider"))
        tokens = CounterMetricFamily(
            "relayport_tokens", "Tokens the vendors reported, by type (input includes cached; "
            "output includes reasoning).", labels=("model", "provider", "type"))
        cost = CounterMetricFamily(
            "relayport_cost", "Cost of the calls in the billing currency (when prices are configured).",
            labels=("model", "provider"))
        # Histograms, tokens and cost are per (model, provider): the statuses' series add up.
        by_pair: dict[tuple[str, str], list[_Series]] = {}
        for (model, provider, status), series in self.series.items():
            requests.add_metric((model, provider, str(status)), series.requests)
            by_pair.setdefault((model, provider), []).append(series)
        for pair, group in by_pair.items():
            for family, pick in ((latency, _latency), (ttft, _ttft)):
                merged = _merge([pick(s) for s in group])
                if any(merged.counts):
                    family.add_metric(pair, merged.exposition(), merged.total)
            for i, (kind, _) in enumerate(_TOKEN_TYPES):
                total = sum(s.tokens[i] for s in group)
                if total:
                    tokens.add_metric((*pair, kind), total)
            spent = sum(s.cost for s in group)
            if spent:
                cost.add_metric(pair, float(from_units(spent)))
        errors = CounterMetricFamily("relayport_upstream_errors", "Failed attempts by status and error code.",
                                     labels=("model", "provider", "status", "code"))
        for labels, n in self.errors.items():
            errors.add_metric(labels, n)
        yield from (requests, latency, ttft, tokens, errors, cost)


def _latency(s: _Series) -> _Histogram:
    return s.latency


def _ttft(s: _Series) -> _Histogram:
    return s.ttft


def _merge(parts: list[_Histogram]) -> _Histogram:
    out = _Histogram(parts[0].bounds)
    for h in parts:
        out.counts = [a + b for a, b in zip(out.counts, h.counts, strict=True)]
        out.total += h.total
    return out


class _LiveState(Collector):
    """Every family, built at scrape time: the counts above, and gauges of what the gateway
    holds anyway (nothing per call)."""

    def __init__(self, router: Router, metrics: Metrics) -> None:
        self.router = router
        self.metrics = metrics
        self.tasks: list[tuple[str, str, int]] = []

    def collect(self) -> Iterator[Any]:
        yield from self.metrics.families()
        in_flight = GaugeMetricFamily(
            "relayport_in_flight", "Upstream attempts under way (streams until their last byte).",
            labels=("model", "provider", "deployment"))
        seen: set[tuple[str, str, str]] = set()
        for dep in self.router.deployments():
            health = self.router.health(dep)
            labels = (dep.name, dep.provider.name, health.label)
            if labels not in seen:  # a deployment reachable under two names is one upstream
                seen.add(labels)
                in_flight.add_metric(labels, health.in_flight)
        yield in_flight
        tasks = GaugeMetricFamily("relayport_tasks", "Async media tasks in the store by state.",
                                  labels=("provider", "state"))
        for provider, state, n in self.tasks:
            tasks.add_metric((provider, state), n)
        yield tasks
