"""Prometheus metrics, named like go-grpc-prometheus so existing dashboards apply."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LABELS = ("grpc_type", "grpc_service", "grpc_method")

STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", LABELS)
HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    (*LABELS, "grpc_code"),
)
HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving an RPC to its completion.",
    LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EMBED_SECONDS = Histogram(
    "mem0stack_embedding_seconds",
    "Time to embed one batch of texts.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MEMORY_EVENTS = Counter(
    "mem0stack_memory_events_total", "Memory changes by AddMemories event type.", ("event",)
)
DB_POOL_SIZE = Gauge("mem0stack_db_pool_connections", "Connections in the database pool.")
