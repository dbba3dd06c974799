"""The TOML configuration, read with the standard library and structured into attrs classes.

Config is written by people, so unknown keys are errors (a typo must not silently change
behaviour); this is the opposite of what we do with vendor responses.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.cols import is_mutable_sequence, list_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

from relayport import anthropic_endpoint
from relayport.provider import Timeouts
from relayport.urlguard import FetchPolicy


class ConfigError(Exception):
    """The configuration is unusable; the message says where and why."""


@attrs.define
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 32 * 1024 * 1024
    # A vendor's non-streamed answer larger than this is refused (502), not buffered.
    max_response_bytes: int = 64 * 1024 * 1024  # = upstream.MAX_RESPONSE_BYTES
    # After SIGTERM: seconds the gateway still takes new calls while `/readyz` says it is
    # draining (give a load balancer time to notice), then seconds the calls and streams in
    # flight get to finish once new connections are refused.
    drain_delay: float = 0.0
    drain_timeout: float = 30.0
    state_path: str = "relayport.sqlite3"
    log_level: str = "info"
    # One log line per call; turn off on very high request rates.
    log_requests: bool = True
    # Gateway keys, balances and the usage log: "" = the state file, a SQLite path, or
    # "postgresql://..." (the `postgres` extra) shared by several gateway instances.
    store: str = ""
    # Store keys' RPM/TPM/concurrency windows: "" = per process; "redis://host:6379/0" (the
    # `redis` extra; `?prefix=NAME` names its keys) = shared by every instance using it.
    limits: str = ""
    # "text" or "json" (one JSON object per line, for log shippers): see docs/observability.md.
    log_format: str = "text"
    # Ask vendors for a stream's usage (`stream_options.include_usage`) even when the client did
    # not, and take it out of that client's stream again: "auto" (when something counts usage:
    # metrics, a usage meter), "always" (the call log then has token counts too), "never".
    meter_streams: str = "auto"
    # "new-api": OpenAI chat answers' usage also carries new-api's fields (seed 004), for
    # clients built against new-api/one-api style aggregators.
    usage_fields: str = "openai"


@attrs.define
class AuthConfig:
    keys: list[str] = attrs.field(factory=list)
    # Keys for /admin/* (also "env:NAME"); a client key there gets 403.
    admin_keys: list[str] = attrs.field(factory=list)


@attrs.define
class BillingConfig:
    """The `[billing]` table: prices are per model (`[[models]] price`), in this currency."""

    currency: str = "USD"
    # One usage row per call in the store: unset = when the store holds gateway keys.
    usage_log: bool | None = None
    # Use the prices vendor plugins ship for models without a `price` (docs/keys.md).
    default_prices: bool = True
    # Billing-currency units per unit of another currency, for shipped prices in it:
    # `rates = { CNY = 0.14 }`. A sheet in a currency not here is not used.
    rates: dict[str, float] = attrs.field(factory=dict)
    # Charge a stream cut short before the vendor's usage came (the client left, the vendor's
    # connection dropped) an estimate of its tokens, not nothing (relayport.interrupted).
    estimate_interrupted: bool = True


@attrs.define
class MetricsConfig:
    """Prometheus `/metrics` and OpenTelemetry spans: the `[metrics]` table."""

    # Count calls and serve /metrics (needs `relayport[metrics]`, i.e. prometheus-client).
    enabled: bool = True
    # /metrics needs the admin key (the gateway keys where no admin keys are configured).
    require_admin: bool = False
    # Upper bounds of the latency and time-to-first-token histograms' buckets, in seconds.
    latency_buckets: list[float] = attrs.field(factory=lambda: [
        0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0])
    ttft_buckets: list[float] = attrs.field(factory=lambda: [
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0])
    # One OpenTelemetry span per upstream attempt (needs `relayport[otel]`), exported as the
    # OpenTelemetry SDK's environment says (OTEL_EXPORTER_OTLP_ENDPOINT, ...).
    otel: bool = False


@attrs.define
class ResponsesConfig:
    """The Responses API's stored responses (`store: true`, `previous_response_id`)."""

    # How long a stored response stays retrievable (OpenAI keeps them 30 days).
    ttl_seconds: float = 30 * 24 * 3600.0


@attrs.define
class RealtimeConfig:
    """Realtime WebSocket sessions (`GET /v1/realtime`) and their client secrets."""

    # Seconds between pings on both sockets (a peer that stops answering is closed); 0: none.
    heartbeat: float = 20.0
    # The largest frame either side may send (audio chunks are base64 inside JSON).
    max_message_bytes: int = 16 * 1024 * 1024
    # How long closing a socket waits for the peer's close frame.
    close_timeout: float = 1.0
    # Signs client secrets; set it ("env:NAME") so they survive restarts and work on every instance.
    token_secret: str | None = None
    token_ttl: float = 600.0  # a client secret's life when the request names none
    token_max_ttl: float = 7200.0


@attrs.define
class ServiceConfig:
    """One non-model service (`[services.<name>]`, see relayport.webservices)."""

    api_key: str | None = None  # "env:NAME" or the key; default: the service's key variables
    base_url: str | None = None
    timeout: float = 60.0


@attrs.define
class SearchConfig:
    """Web search as a tool for models whose vendor cannot search (`[search]`)."""

    # The registered service that searches (e.g. "serper"); off when empty.
    service: str = ""
    # True: `enable_search` (and the Responses `web_search` tool) on such models runs a search
    # through `service` and gives the model its results; False: it is ignored and announced.
    as_tool: bool = False
    results: int = 5


@attrs.define
class TasksConfig:
    """Async media tasks: the `[tasks]` table."""

    # A task not finished this many seconds after its submit fails with a timeout error.
    deadline: float = 24 * 3600.0
    # Seconds between polls of one task; `poll_intervals` overrides it per provider. Video tasks
    # take minutes; each poll costs the gateway about as much CPU as a chat call, so 1,000 open
    # tasks at 10 s are ~100 polls/s (see bench/tasks.py).
    poll_interval: float = 10.0
    poll_intervals: dict[str, float] = attrs.field(factory=dict)
    # Polls in flight at once (all vendors together).
    concurrency: int = 32
    # Seconds a poller's claim on a due task lasts, so instances sharing a store poll it once:
    # longer than a vendor's poll answer takes; a task claimed by an instance that died waits
    # this long before another instance polls it.
    poll_lease: float = 30.0
    # Each interval is stretched or shrunk by up to this fraction, so tasks submitted together
    # do not stay in lock-step.
    jitter: float = 0.1
    # Longest wait between polls after rate limits and errors (backoff doubles up to it).
    max_backoff: float = 300.0
    # Consecutive failed polls after which a task fails with the last error.
    max_poll_errors: int = 20
    # Signs `callback_url` POSTs (HMAC-SHA256); "env:NAME" reads it from the environment.
    callback_secret: str | None = None
    callback_attempts: int = 6
    # Where finished results are copied so `.../content` serves them after the vendor's URL
    # expired; "" = beside the state file (a temporary folder for an in-memory state).
    results_path: str = ""
    results_max_bytes: int = 10 * 1024**3
    # Seconds a stored result is kept.
    results_retention: float = 7 * 24 * 3600.0
    # How long an OpenAI-shaped image/speech call waits for an asynchronous vendor's task.
    sync_wait: float = 300.0


@attrs.define
class RouterConfig:
    """How a model name's deployments share calls and survive failures: the `[router]` table."""

    # weighted | least-busy | latency (EWMA of time to first byte).
    strategy: str = "weighted"
    # Upstream attempts per call and model name (a fallback name gets its own), retries included.
    max_attempts: int = 3
    # A deployment failing this many times in a row (or answering 401/403/quota) sits out
    # `cooldown` seconds, then gets one half-open probe call.
    failures: int = 3
    cooldown: float = 30.0
    # Retry the deployment that just failed (after a backoff) when no other one is left. Off by
    # default: the official SDKs already retry twice themselves, and without it a config from
    # before `[router]` behaves as it did (each deployment tried once).
    retry_same: bool = False
    # First retry of the same deployment waits about this long, doubling (with jitter) up to
    # `max_backoff`; a vendor asking for a longer wait than `max_backoff` is not retried.
    backoff: float = 0.5
    max_backoff: float = 8.0
    # Other model names tried, in order, when every deployment of a name failed.
    fallbacks: dict[str, list[str]] = attrs.field(factory=dict)
    # Names tried when a vendor says the prompt does not fit the model's context window, or
    # refuses it under its content policy (errors no ordinary retry or fallback may take).
    context_window_fallbacks: dict[str, list[str]] = attrs.field(factory=dict)
    content_policy_fallbacks: dict[str, list[str]] = attrs.field(factory=dict)
    # Seconds a call waits for a slot of a deployment at its `max_concurrency` (or for the
    # gateway's `max_connections`) before it goes elsewhere or gets a 429 / 503.
    queue_timeout: float = 10.0
    # Upstream calls in flight at once, all deployments together (0: no cap).
    max_connections: int = 0
    # Seconds one call may take, retries, waits and queueing included, until its answer
    # starts (unset: only the deployments' own timeouts bound it).
    deadline: float | None = None
    # The same `prompt_cache_key`, `user` or session id goes to the same healthy deployment of
    # a tier, so the vendor's prompt cache is warm for it.
    sticky: bool = True


STRATEGIES = ("weighted", "least-busy", "latency")
FALLBACK_TABLES = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


@attrs.define
class ModelConfig:
    name: str
    provider: str
    model: str | None = None
    # Share of calls within its priority tier; a tier where no deployment sets it is served in
    # config order (the first healthy one serves, the others are its fallbacks).
    weight: float | None = None
    # Lower tiers serve first; a higher one only when every deployment above failed or cools.
    priority: int = 0
    # Calls in flight to this deployment; more wait up to `[router] queue_timeout` (unset: no cap).
    max_concurrency: int | None = None
    base_url: str | None = None
    api_key: str | None = None
    proxy: str | None = None
    timeouts: Timeouts = Timeouts()
    headers: dict[str, str] = attrs.field(factory=dict)
    options: dict[str, Any] = attrs.field(factory=dict)
    # Per million tokens (input, output, cached_input, cache_write, reasoning) and per media
    # unit (image, video_second, speech_1k_chars), in `[billing] currency`.
    price: dict[str, float] | None = None


@attrs.define
class Config:
    server: ServerConfig = attrs.field(factory=ServerConfig)
    auth: AuthConfig = attrs.field(factory=AuthConfig)
    models: list[ModelConfig] = attrs.field(factory=list)
    tasks: TasksConfig = attrs.field(factory=TasksConfig)
    # URLs clients name (media to inline, callbacks): see relayport.urlguard.
    fetch: FetchPolicy = attrs.field(factory=FetchPolicy)
    responses: ResponsesConfig = attrs.field(factory=ResponsesConfig)
    router: RouterConfig = attrs.field(factory=RouterConfig)
    realtime: RealtimeConfig = attrs.field(factory=RealtimeConfig)
    services: dict[str, ServiceConfig] = attrs.field(factory=dict)
    search: SearchConfig = attrs.field(factory=SearchConfig)
    billing: BillingConfig = attrs.field(factory=BillingConfig)
    metrics: MetricsConfig = attrs.field(factory=MetricsConfig)
    source: str = "<defaults>"


_converter = cattrs.Converter(forbid_extra_keys=True)

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def _exactly(kind: type) -> Callable[[Any, Any], Any]:
    """TOML values arrive typed; cattrs' default would coerce them ("no" -> True, 80.5 -> 80)."""

    def structure(value: Any, _: Any) -> Any:
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise TypeError(f"expected {_TYPE_NAMES[kind]}, got {value!r}")
        return value

    return structure


for _kind in _TYPE_NAMES:
    _converter.register_structure_hook(_kind, _exactly(_kind))


def _array_only(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # Without this a string is iterated: `keys = "secret"` would become one key per character.
    inner = list_structure_factory(type_, converter)

    def structure(value: Any, t: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"expected an array, got {value!r}")
        return inner(value, t)

    return structure


_converter.register_structure_hook_factory(is_mutable_sequence, _array_only)


def _describe(exc: BaseException, path: str = "") -> list[str]:
    """Flatten cattrs' nested exception groups into `where: what` lines."""
    out: list[str] = []
    if isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            out.append(f"{path or 'top level'}: unknown key {key!r}")
        return out
    if isinstance(exc, (ClassValidationError, cattrs.errors.IterableValidationError)):
        notes = cattrs.transform_error(exc, path=path or "$")
        return list(notes)
    out.append(f"{path or 'config'}: {exc}")
    return out


def parse_config(data: dict[str, Any], source: str = "<dict>") -> Config:
    data = {k: v for k, v in data.items()}
    try:
        config = _converter.structure(data, Config)
    except Exception as exc:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(_describe(exc))) from None
    config.source = source
    _validate(config)
    return config


def _validate(config: Config) -> None:
    problems: list[str] = []
    if not (0 < config.server.port < 65536):
        problems.append(f"server.port: {config.server.port} is not a TCP port")
    if config.server.max_body_bytes <= 0 or config.server.max_response_bytes <= 0:
        problems.append("server.max_body_bytes and server.max_response_bytes: must be positive")
    if config.server.drain_timeout < 0 or config.server.drain_delay < 0:
        problems.append("server.drain_delay and server.drain_timeout: must not be negative")
    if config.server.limits and not config.server.limits.startswith(("redis://", "rediss://", "unix://")):
        problems.append(f"server.limits: {config.server.limits!r} must be a redis://, rediss:// or unix:// URL")
    for i, m in enumerate(config.models):
        where = f"models[{i}] ({m.name!r})"
        if not m.name:
            problems.append(f"models[{i}].name: must not be empty")
        if not m.provider:
            problems.append(f"{where}.provider: must not be empty")
        if m.base_url is not None and not m.base_url.startswith(("http://", "https://")):
            problems.append(f"{where}.base_url: {m.base_url!r} must start with http:// or https://")
        if m.weight is not None and m.weight <= 0:
            problems.append(f"{where}.weight: must be positive")
        problems.extend(f"{where}.options.{p}" for p in anthropic_endpoint.option_problems(m.options))
        if m.max_concurrency is not None and m.max_concurrency < 1:
            problems.append(f"{where}.max_concurrency: must be >= 1")
        if m.price is not None:
            problems.extend(_price_problems(m.price, f"{where}.price"))
        t = m.timeouts
        for field in ("connect", "first_byte", "idle", "total"):
            if getattr(t, field) <= 0:
                problems.append(f"{where}.timeouts.{field}: must be positive")
    problems.extend(_router_problems(config))
    problems.extend(_observability_problems(config))
    problems.extend(_billing_problems(config.billing))
    if config.responses.ttl_seconds <= 0:
        problems.append("responses.ttl_seconds: must be positive")
    if config.fetch.max_bytes <= 0 or config.fetch.timeout <= 0:
        problems.append("fetch.max_bytes and fetch.timeout: must be positive")
    tk = config.tasks
    for field in ("deadline", "poll_interval", "max_backoff", "results_retention", "sync_wait"):
        if getattr(tk, field) <= 0:
            problems.append(f"tasks.{field}: must be positive")
    for name, interval in tk.poll_intervals.items():
        if interval <= 0:
            problems.append(f"tasks.poll_intervals.{name}: must be positive")
    if tk.concurrency < 1 or tk.callback_attempts < 1 or tk.max_poll_errors < 1 or tk.results_max_bytes < 1:
        problems.append("tasks.concurrency, callback_attempts, max_poll_errors, results_max_bytes: must be >= 1")
    if not 0 <= tk.jitter < 1:
        problems.append("tasks.jitter: must be in [0, 1)")
    if tk.poll_lease < 0:
        problems.append("tasks.poll_lease: must not be negative")
    for name, svc in config.services.items():
        if svc.base_url is not None and not svc.base_url.startswith(("http://", "https://")):
            problems.append(f"services.{name}.base_url: {svc.base_url!r} must start with http:// or https://")
        if svc.timeout <= 0:
            problems.append(f"services.{name}.timeout: must be positive")
    if config.search.as_tool and not config.search.service:
        problems.append("search.as_tool: needs search.service (the service that searches, e.g. \"serper\")")
    if not 1 <= config.search.results <= 20:
        problems.append("search.results: must be between 1 and 20")
    if problems:
        raise ConfigError(f"{config.source}: invalid configuration:\n  " + "\n  ".join(problems))


def _price_problems(table: dict[str, float], where: str) -> list[str]:
    from relayport.accounts.prices import Price

    try:
        Price.parse(table, where)
    except ValueError as exc:
        return [str(exc)]
    return []


def _billing_problems(billing: BillingConfig) -> list[str]:
    return [f"billing.rates.{c}: must be a positive number (units of {billing.currency} per {c})"
            for c, r in billing.rates.items()
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0]


def _router_problems(config: Config) -> list[str]:
    r = config.router
    out: list[str] = []
    if r.strategy not in STRATEGIES:
        out.append(f"router.strategy: {r.strategy!r} is not one of {', '.join(STRATEGIES)}")
    if r.max_attempts < 1 or r.failures < 1:
        out.append("router.max_attempts and router.failures: must be >= 1")
    if r.cooldown <= 0 or r.backoff < 0 or r.max_backoff < r.backoff:
        out.append("router.cooldown must be positive and 0 <= router.backoff <= router.max_backoff")
    if r.queue_timeout < 0 or r.max_connections < 0 or (r.deadline is not None and r.deadline <= 0):
        out.append("router.queue_timeout and router.max_connections: must not be negative; "
                   "router.deadline: must be positive")
    for table in FALLBACK_TABLES:
        for name, others in getattr(r, table).items():
            if name in others:
                out.append(f"router.{table}.{name}: a model cannot fall back to itself")
    return out


LOG_FORMATS = ("text", "json")
METER_STREAMS = ("auto", "always", "never")
USAGE_FIELDS = ("openai", "new-api")


def _observability_problems(config: Config) -> list[str]:
    out: list[str] = []
    if config.server.log_format not in LOG_FORMATS:
        out.append(f"server.log_format: {config.server.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    if config.server.meter_streams not in METER_STREAMS:
        out.append(f"server.meter_streams: {config.server.meter_streams!r} is not one of "
                   f"{', '.join(METER_STREAMS)}")
    if config.server.usage_fields not in USAGE_FIELDS:
        out.append(f"server.usage_fields: {config.server.usage_fields!r} is not one of {', '.join(USAGE_FIELDS)}")
    for field in ("latency_buckets", "ttft_buckets"):
        buckets = getattr(config.metrics, field)
        if not buckets or any(b <= 0 for b in buckets) or buckets != sorted(set(buckets)):
            out.append(f"metrics.{field}: must be positive numbers in increasing order")
    return out


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Read a TOML file; None gives the embedded defaults."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_config(data, str(p))
