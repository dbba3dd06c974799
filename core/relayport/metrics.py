"""Prometheus metrics: counters and histograms fed by call records, gauges read when scraped.

Needs prometheus-client (`pip install 'relayport[metrics]'`); without it `available()` is
False, no observer is registered and calls cost what they did. Each app has its own registry,
so several gateways in one process (tests) never share counts.

Per call the observer does one dict lookup for its label set and a few increments: label
children are made once per (model, provider, status) and kept. What the gateway already
tracks (in-flight attempts per deployment, tasks in the store) is read at scrape time
instead of being counted on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from relayport.calls import CallRecord

if TYPE_CHECKING:
    from relayport.config import MetricsConfig
    from relayport.routing import Router
    from relayport.tasks.store import TaskStore

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError:  # the extra is not installed: /metrics says how to get it
    CollectorRegistry = None  # type: ignore[assignment,misc]
    Collector = object  # type: ignore[assignment,misc]

INSTALL_HINT = "pip install 'relayport[metrics]'"
_LABELS = ("model", "provider")
# Usage fields counted in relayport_tokens_total, by the `type` label they get.
_TOKEN_TYPES = (("input", "input_tokens"), ("output", "output_tokens"), ("cached", "cached_tokens"),
                ("cache_write", "cache_write_tokens"), ("reasoning", "reasoning_tokens"))


def available() -> bool:
    return CollectorRegistry is not None


class _Series:
    """The label children one (model, provider, status) needs, made on its first call."""

    __slots__ = ("requests", "latency", "ttft", "tokens", "cost")

    def __init__(self, m: Metrics, model: str, provider: str, status: int) -> None:
        self.requests = m.requests.labels(model, provider, str(status))
        self.latency = m.latency.labels(model, provider)
        self.ttft = m.ttft.labels(model, provider)
        self.tokens = [(field, m.tokens.labels(model, provider, kind)) for kind, field in _TOKEN_TYPES]
        self.cost = m.cost.labels(model, provider)


class Metrics:
    """The gateway's metrics; `observe` is a `Gateway.observers` entry, `render` answers a scrape."""

    def __init__(self, config: MetricsConfig, router: Router) -> None:
        if CollectorRegistry is None:
            raise RuntimeError(f"prometheus-client is not installed: {INSTALL_HINT}")
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "relayport_requests", "Upstream attempts (each retry and fallback counts) by outcome.",
            (*_LABELS, "status"), registry=registry)
        self.latency = Histogram(
            "relayport_request_duration_seconds",
            "Seconds from an attempt's start to its answer's last byte (successful attempts).",
            _LABELS, buckets=config.latency_buckets, registry=registry)
        self.ttft = Histogram(
            "relayport_time_to_first_token_seconds",
            "Seconds from a stream's start to the vendor's first bytes (successful streams).",
            _LABELS, buckets=config.ttft_buckets, registry=registry)
        self.tokens = Counter(
            "relayport_tokens", "Tokens the vendors reported, by type (input includes cached; "
            "output includes reasoning).", (*_LABELS, "type"), registry=registry)
        self.errors = Counter(
            "relayport_upstream_errors", "Failed attempts by status and error code.",
            (*_LABELS, "status", "code"), registry=registry)
        self.cost = Counter(
            "relayport_cost", "Cost of the calls in the billing currency (when prices are configured).",
            _LABELS, registry=registry)
        self._series: dict[tuple[str, str, int], _Series] = {}
        self._live = _LiveState(router)
        registry.register(self._live)

    def observe(self, rec: CallRecord) -> None:
        key = (rec.model, rec.provider, rec.status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(self, *key)
        series.requests.inc()
        if rec.error is not None:
            self.errors.labels(rec.model, rec.provider, str(rec.status), rec.error).inc()
        else:
            series.latency.observe(rec.latency)
            if rec.ttfb is not None:
                series.ttft.observe(rec.ttfb)
        usage = rec.usage
        if usage is not None:
            for field, child in series.tokens:
                n = getattr(usage, field)
                if n:
                    child.inc(n)
        cost = getattr(rec, "cost", None)  # set by the usage meter when prices are configured
        if cost:
            series.cost.inc(float(cost))

    async def render(self, tasks: TaskStore | None) -> tuple[bytes, str]:
        """The exposition text and its content type; task counts are read from the store now."""
        self._live.tasks = await tasks.counts() if tasks is not None else []
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _LiveState(Collector):
    """Gauges of what the gateway holds anyway, read at scrape time (nothing per call)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.tasks: list[tuple[str, str, int]] = []

    def collect(self) -> Iterator[Any]:
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
