"""Prometheus metrics, named like go-grpc-prometheus so existing dashboards apply."""

from __future__ import annotations

from typing import Protocol

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

# Embedding (embed/): fed by the batch observer the server installs at start-up, since
# embed/ does not import obs/. A batch is one model run (local) or HTTP request (openai).
EMBED_SECONDS = Histogram(
    "mem0stack_embedding_seconds",
    "Time to embed one batch of texts, failed batches included.",
    # Up to 30 s: an OpenAI-compatible endpoint may take that long with its retries.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EMBED_BATCH_TEXTS = Histogram(
    "mem0stack_embedding_batch_texts",
    "Texts in one embedding batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
)


def observe_embedding_batch(seconds: float, texts: int) -> None:
    """Record one embedding batch (the ``embed`` package's batch observer)."""
    EMBED_SECONDS.observe(seconds)
    EMBED_BATCH_TEXTS.observe(texts)


MEMORY_EVENTS = Counter(
    "mem0stack_memory_events_total", "Memory changes by AddMemories event type.", ("event",)
)
MEMORIES_EXPIRED = Counter(
    "mem0stack_memories_expired_total",
    "Memories deleted by the expiry sweeper, their retention after expire_time over.",
)

# The asyncpg pool, read at scrape time (watch_db_pool) so the figures are never stale.
DB_POOL_CONNECTIONS = Gauge(
    "mem0stack_db_pool_connections",
    "Open connections in the database pool, by state: in_use or idle.",
    ("state",),
)
DB_POOL_MAX = Gauge(
    "mem0stack_db_pool_max_connections", "The most connections the database pool may open."
)

DB_POOL_WAITING = Gauge(
    "mem0stack_db_pool_waiting",
    "Tasks waiting for a connection from the database pool (above 0 for long: the pool is "
    "too small or a statement holds connections too long).",
)
DB_POOL_ACQUIRE_SECONDS = Histogram(
    "mem0stack_db_pool_acquire_seconds",
    "Time a task waited to get a connection from the database pool.",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10),
)


class PoolSizes(Protocol):
    """What the pool gauges read: the counters ``asyncpg.Pool`` has."""

    def get_size(self) -> int: ...

    def get_idle_size(self) -> int: ...

    def get_max_size(self) -> int: ...

    def get_waiting(self) -> int: ...


def watch_db_pool(pool: PoolSizes) -> None:
    """Export ``pool``'s connection counts, read at every scrape.

    One server runs per process, so the last pool watched is the one exported. Scrapes
    run on the exporter's thread; the pool's counters only read its fixed list of
    connection holders, so reading them there is safe.
    """

    def in_use() -> int:
        # Two reads, not one snapshot: a connection that closes between them could
        # otherwise make the difference negative for a scrape.
        idle = pool.get_idle_size()
        return max(0, pool.get_size() - idle)

    DB_POOL_CONNECTIONS.labels("in_use").set_function(in_use)
    DB_POOL_CONNECTIONS.labels("idle").set_function(pool.get_idle_size)
    DB_POOL_MAX.set_function(pool.get_max_size)
    DB_POOL_WAITING.set_function(pool.get_waiting)


def observe_db_pool_acquire(seconds: float) -> None:
    """Record one connection acquire (the ``store`` package's acquire observer)."""
    DB_POOL_ACQUIRE_SECONDS.observe(seconds)


# LLM calls (llm/client.py). `purpose` is the kind of request (extract_facts,
# reconcile_memories, summarize_run); `outcome` is ok, timeout, connection_error,
# rate_limited, server_error, client_error or circuit_open.
LLM_REQUESTS = Counter(
    "mem0stack_llm_requests_total", "LLM requests by purpose and outcome.", ("purpose", "outcome")
)
LLM_REQUEST_SECONDS = Histogram(
    "mem0stack_llm_request_seconds",
    "Time of one LLM HTTP request, failed ones included.",
    ("purpose",),
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
LLM_RETRIES = Counter(
    "mem0stack_llm_retries_total", "LLM requests retried, by what failed.", ("cause",)
)
LLM_TOKENS = Counter(
    "mem0stack_llm_tokens_total", "LLM tokens consumed, prompt or completion.", ("kind",)
)
LLM_CIRCUIT_STATE = Gauge(
    "mem0stack_llm_circuit_state", "LLM circuit breaker: 0 closed, 1 half-open, 2 open."
)
LLM_CIRCUIT_OPENED = Counter(
    "mem0stack_llm_circuit_opened_total", "Times the LLM circuit breaker opened."
)
LLM_IN_FLIGHT = Gauge("mem0stack_llm_requests_in_flight", "LLM requests being sent now.")
LLM_OUTPUT_REPAIRS = Counter(
    "mem0stack_llm_output_repairs_total",
    "Unparseable LLM answers sent back to be fixed, by whether the fix parsed.",
    ("purpose", "result"),
)
LLM_OUTPUT_INVALID = Counter(
    "mem0stack_llm_output_invalid_total",
    "LLM answers that could not be parsed even after repair (the call failed).",
    ("purpose",),
)
LLM_UNKNOWN_IDS = Counter(
    "mem0stack_llm_unknown_ids_total",
    "Reconciliation decisions naming a memory the LLM was not shown (ignored, reported).",
)

# Background AddMemories operations (core/operations.py).
OPERATIONS_FINISHED = Counter(
    "mem0stack_operations_finished_total", "Background operations finished, by state.", ("state",)
)
OPERATIONS_REJECTED = Counter(
    "mem0stack_operations_rejected_total", "Background operations refused: the queue was full."
)
OPERATION_QUEUE_DEPTH = Gauge(
    "mem0stack_operation_queue_depth", "Background operations waiting for a worker."
)

# Graph memory (graph/worker.py): the outbox of Neo4j updates and what applying it did.
GRAPH_OUTBOX_PENDING = Gauge(
    "mem0stack_graph_outbox_pending", "Graph updates waiting in the outbox (all users)."
)
GRAPH_OUTBOX_LAG = Gauge(
    "mem0stack_graph_outbox_lag_seconds",
    "Age of the oldest pending graph update: how far the graph lags behind the memories.",
)
GRAPH_JOBS = Counter(
    "mem0stack_graph_jobs_total",
    "Graph update attempts by kind (EXTRACT, FORGET, SUPERSEDE) and outcome (ok, retry, failed).",
    ("kind", "outcome"),
)
GRAPH_APPLY_SECONDS = Histogram(
    "mem0stack_graph_apply_seconds",
    "Time to apply one graph update (LLM extraction included), successful ones.",
    ("kind",),
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GRAPH_RELATIONS_INVALIDATED = Counter(
    "mem0stack_graph_relations_invalidated_total",
    "Relations marked invalid (contradicted or their memories superseded).",
)

# Messages on each RPC, as go-grpc-prometheus counts them: one each way for a unary call,
# one per streamed message otherwise.
MSG_RECEIVED = Counter(
    "grpc_server_msg_received_total", "RPC messages received on the server.", LABELS
)
MSG_SENT = Counter("grpc_server_msg_sent_total", "RPC messages sent by the server.", LABELS)

BUILD_INFO = Gauge(
    "mem0stack_build_info",
    "Always 1: the server's version and the models it runs with.",
    ("version", "embedding_model", "llm_model"),
)

SERVING = Gauge(
    "mem0stack_serving",
    "1 while the server's health service says SERVING; 0 while it starts or drains.",
)

# What the database holds, counted at most every stats interval (server.py refreshes them)
# so a scrape never runs a query.
MEMORIES = Gauge(
    "mem0stack_memories", "Memories stored, by state: active or superseded.", ("state",)
)
USERS = Gauge("mem0stack_users", "Users with at least one active memory.")
DATABASE_UP = Gauge(
    "mem0stack_database_up",
    "1 while the database answers the server's probes (and its statistics queries), else 0.",
)
DATABASE_OUTAGES = Counter(
    "mem0stack_database_outages_total",
    "Times the database stopped answering the server's probes (health went NOT_SERVING).",
)
DATABASE_RESTARTS = Counter(
    "mem0stack_database_restarts_total",
    "Times the server started its embedded PostgreSQL again after it had died.",
)
REFUSED = Counter(
    "mem0stack_refused_total",
    "Calls refused before they started, with UNAVAILABLE and RetryInfo, by reason: "
    "DATABASE_UNAVAILABLE (the database is away) or SHUTTING_DOWN (the server drains).",
    ("reason",),
)
DATABASE_SIZE = Gauge(
    "mem0stack_database_size_bytes", "Size of the server's database on disk (pg_database_size)."
)
WAL_SIZE = Gauge(
    "mem0stack_database_wal_bytes",
    "Bytes of write-ahead log kept by PostgreSQL (pg_ls_waldir; 0 where the role may not read it).",
)

DB_QUERY_SECONDS = Histogram(
    "mem0stack_db_query_seconds",
    "Time of one SQL statement on the pool's connections, failed ones included.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe_db_query(seconds: float) -> None:
    """Record one SQL statement (the ``store`` package's query observer)."""
    DB_QUERY_SECONDS.observe(seconds)


EMBED_CACHE = Counter(
    "mem0stack_embedding_cache_requests_total",
    "Lookups in the embedders' vector caches, by result: hit or miss.",
    ("result",),
)


def observe_embedding_cache(hit: bool) -> None:
    """Record one cache lookup (the ``embed`` package's cache observer)."""
    EMBED_CACHE.labels("hit" if hit else "miss").inc()


SEARCH_SECONDS = Histogram(
    "mem0stack_search_seconds",
    "Time of one SearchMemories call, by retrieval mode.",
    ("mode",),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

SEARCH_STEP_SECONDS = Histogram(
    "mem0stack_search_step_seconds",
    "Time of one step of SearchMemories: embed (the query), keyword (the BM25 leg, which "
    "runs while the query embeds), ranking (the fused statement) or graph.",
    ("step",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEARCH_STEPS = ("embed", "keyword", "ranking", "graph")

OPERATIONS_RUNNING = Gauge(
    "mem0stack_operations_running", "Background operations being run by this server now."
)

WATCH_STREAMS = Gauge("mem0stack_watch_streams", "WatchMemories streams open on this server.")
WATCH_LAG_SECONDS = Histogram(
    "mem0stack_watch_lag_seconds",
    "Time from a change's commit to its handing to a WatchMemories stream.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
WATCH_OVERFLOWS = Counter(
    "mem0stack_watch_overflows_total",
    "WatchMemories streams ended because the watcher fell too far behind the feed.",
)

# Webhooks (app/webhook_delivery.py). No label names a user, webhook or URL: those are in
# ListWebhookDeliveries.
WEBHOOK_DELIVERIES = Counter(
    "mem0stack_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: succeeded, failed (to be retried) or gave_up "
    "(failed at the end of the retry period).",
    ("outcome",),
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "mem0stack_webhook_delivery_seconds",
    "Time of one webhook POST, failed ones included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_PENDING = Gauge(
    "mem0stack_webhook_deliveries_pending",
    "Webhook deliveries waiting for their first attempt or a retry, over every webhook "
    "(counted from the database: every replica reports the same figure).",
)

RATE_LIMITED = Counter(
    "mem0stack_rate_limited",
    "Requests refused because their API key exceeded MEM0STACK_RATE_LIMIT_RPS (gRPC and the "
    "mem0 Platform routes alike).",
)

AUDIT_ENTRIES = Counter(
    "mem0stack_audit_entries",
    "Entries handed to the access audit log, by action (read, list, search, export, watch, "
    "history, delete, graph).",
    ("action",),
)
AUDIT_DROPPED = Counter(
    "mem0stack_audit_entries_dropped",
    "Access log entries dropped because the database fell 10,000 entries behind the calls.",
)
