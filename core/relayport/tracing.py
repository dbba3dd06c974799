"""OpenTelemetry spans, one per upstream attempt, named and tagged as the GenAI conventions say.

Needs `relayport[otel]`. Spans are made from the `CallRecord` when the attempt has ended,
with the attempt's real start time, under whatever span is current for the request (a server
span from opentelemetry-instrumentation-aiohttp-server, when the user runs it); nothing is
done per chunk. Off (`[metrics] otel = false`, the default), nothing is imported or called.

Attributes: `gen_ai.operation.name` ("chat"), `gen_ai.provider.name` and its older name
`gen_ai.system` (the relayport provider), `gen_ai.request.model` (the vendor's model id),
`gen_ai.usage.input_tokens`/`output_tokens`/`cache_read.input_tokens`/
`cache_creation.input_tokens`, `error.type`; relayport's own under `relayport.*`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from relayport import __version__
from relayport.calls import CallRecord, Observer

log = logging.getLogger("relayport.tracing")

INSTALL_HINT = "pip install 'relayport[otel]'"


def _provider() -> Any:
    """The global tracer provider; when nothing set one up, an SDK provider exporting over
    OTLP as the standard OTEL_* environment variables say."""
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("[metrics] otel is on but no tracer provider is set up and the OTLP exporter is "
                    "not installed (%s): spans go nowhere", INSTALL_HINT)
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": "relayport"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def span_observer(provider: Any = None) -> Observer:
    """A `Gateway.observers` entry that ends one CLIENT span per attempt."""
    tracer = (provider or _provider()).get_tracer("relayport", __version__)

    def observe(rec: CallRecord) -> None:
        end = time.time_ns()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": rec.provider,
            "gen_ai.system": rec.provider,
            "gen_ai.request.model": rec.upstream_model,
            "relayport.model": rec.model,
            "relayport.deployment": rec.deployment,
            "relayport.request_id": rec.request_id,
            "relayport.stream": rec.stream,
            "http.response.status_code": rec.status,
        }
        if rec.caller is not None:
            attributes["relayport.caller"] = rec.caller  # the key's name or id, never the key
        if rec.ttfb is not None:
            attributes["relayport.time_to_first_byte"] = rec.ttfb
        usage = rec.usage
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
            if usage.cached_tokens is not None:
                attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
            if usage.cache_write_tokens is not None:
                attributes["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
            if usage.reasoning_tokens is not None:
                attributes["relayport.usage.reasoning_tokens"] = usage.reasoning_tokens
        cost = getattr(rec, "cost", None)
        if cost is not None:
            attributes["relayport.cost"] = float(cost)
        span = tracer.start_span(f"chat {rec.upstream_model}", kind=SpanKind.CLIENT, attributes=attributes,
                                 start_time=end - int(rec.latency * 1e9))
        if rec.error is not None:
            span.set_attribute("error.type", rec.error)
            span.set_status(Status(StatusCode.ERROR, rec.error))
        span.end(end_time=end)

    return observe
