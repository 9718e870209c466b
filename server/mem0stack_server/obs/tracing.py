"""OpenTelemetry traces: exported by OTLP/HTTP when an endpoint is configured, else none.

The gRPC server interceptor (transport/) opens a span per call, continuing the caller's
W3C ``traceparent``; the use cases, SQL statements, the embedder and the LLM add child
spans through this module. Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) no SDK is installed: spans are the API's no-ops and
cost nothing. The SDK reads the other standard ``OTEL_*`` variables (service name,
batch delays, headers) itself.

Attributes carry what an operator filters on, never user ids or memory text: the user
appears as a short hash (:func:`user_hash`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

log = logging.getLogger("mem0stack.tracing")

tracer = trace.get_tracer("mem0stack")
_provider: Any = None


def configure(service_name: str = "mem0stack") -> bool:
    """Install the SDK with an OTLP/HTTP exporter when an endpoint is configured."""
    global _provider
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint or _provider is not None:
        return _provider is not None
    # Imported here: a server without an endpoint never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("traces exported by OTLP/HTTP", extra={"endpoint": endpoint})
    return True


def shutdown() -> None:
    """Send the spans still buffered (at the end of a graceful stop)."""
    if _provider is not None:
        _provider.shutdown()


def user_hash(user_id: str) -> str:
    """A stable, short stand-in for a user id in span attributes."""
    return hashlib.sha256(b"mem0stack-user:" + user_id.encode()).hexdigest()[:16]


def annotate(**attributes: Any) -> None:
    """Add attributes to the current span (the RPC's, inside a handler)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({f"mem0stack.{k}": v for k, v in attributes.items() if v is not None})


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A child span of the current one around a block."""
    with tracer.start_as_current_span(
        name, attributes={k: v for k, v in attributes.items() if v is not None}
    ) as current:
        yield current


def record_query(statement: str, seconds: float, failed: bool) -> None:
    """A finished SQL statement as a span of the task that ran it (the ``store`` package's
    query observer; asyncpg reports statements after they ran, in the caller's context)."""
    if not trace.get_current_span().is_recording():
        return
    end = time.time_ns()
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    current = tracer.start_span(
        f"db {operation}",
        kind=trace.SpanKind.CLIENT,
        start_time=end - int(seconds * 1e9),
        attributes={
            "db.system": "postgresql",
            "db.operation": operation,
            # The statement's text, parameters left out: they hold user data.
            "db.statement": statement[:2000],
        },
    )
    if failed:
        current.set_status(trace.Status(trace.StatusCode.ERROR))
    current.end(end_time=end)


def ids() -> tuple[str, str] | None:
    """The current trace and span ids in hex, for log lines; None outside a trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
