"""Assemble and run the gRPC server: storage, embedder, services, health, reflection."""

from __future__ import annotations

import asyncio
import importlib.metadata
import ipaddress
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.instrumentation.grpc import filters as otel_filters
from prometheus_client import start_http_server

from mem0stack.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    graph_service_pb2,
    graph_service_pb2_grpc,
    memory_service_pb2,
    memory_service_pb2_grpc,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from mem0stack_server.app.access_log import AccessLog
from mem0stack_server.app.adding import AddMemories, MemoryAdder
from mem0stack_server.app.api_keys import ApiKeys
from mem0stack_server.app.embedding import Embeddings
from mem0stack_server.app.erasure import Erasure
from mem0stack_server.app.expiry import ExpirySettings, sweep_periodically
from mem0stack_server.app.graph import GraphMemory, queue_extraction
from mem0stack_server.app.idempotency import Idempotency
from mem0stack_server.app.inference.pipeline import InferencePipeline
from mem0stack_server.app.memories import Memories
from mem0stack_server.app.operations import Operations
from mem0stack_server.app.search import Search
from mem0stack_server.app.server_status import ServerFacts, ServerStatus
from mem0stack_server.app.serving import ServingState
from mem0stack_server.app.usage import UsageMeter
from mem0stack_server.app.users import Users
from mem0stack_server.app.webhook_delivery import DeliverySettings, WebhookWorker
from mem0stack_server.app.webhooks import Webhooks
from mem0stack_server.auth.authenticator import Authenticator
from mem0stack_server.config import Settings
from mem0stack_server.domain.pagination import set_signing_key
from mem0stack_server.embed import Embedder, create_embedder
from mem0stack_server.embed._batcher import set_batch_observer
from mem0stack_server.embed._cache import set_cache_observer
from mem0stack_server.llm import LLMClient
from mem0stack_server.llm import from_settings as llm_from_settings
from mem0stack_server.obs import metrics, tracing
from mem0stack_server.store.access_log import AccessLogStore
from mem0stack_server.store.availability import DatabaseMonitor, ProbeSettings
from mem0stack_server.store.database import (
    DATABASE_ERRORS,
    EmbeddedPostgres,
    create_pool,
    migrate,
    set_acquire_observer,
    set_query_observer,
)
from mem0stack_server.store.events import EventStore, FeedListener
from mem0stack_server.store.keys import KeyStore
from mem0stack_server.store.memories import MemoryStore
from mem0stack_server.store.operations import OperationStore
from mem0stack_server.store.platform import PlatformStore
from mem0stack_server.store.stats import read_stats
from mem0stack_server.store.token_secret import token_secret
from mem0stack_server.store.usage import UsageStore
from mem0stack_server.store.webhooks import WebhookStore
from mem0stack_server.transport.admin_servicer import AdminServicer
from mem0stack_server.transport.graph_servicer import GraphServicer
from mem0stack_server.transport.health import HealthServicer
from mem0stack_server.transport.interceptors import (
    AuditInterceptor,
    AuthInterceptor,
    ErrorInterceptor,
    ObservabilityInterceptor,
    RequestCheckInterceptor,
    ServingInterceptor,
)
from mem0stack_server.transport.memory_servicer import MemoryServicer
from mem0stack_server.transport.platform.routes import Services as PlatformServices
from mem0stack_server.transport.platform.serving import PlatformServer, start_platform
from mem0stack_server.transport.tls import server_credentials
from mem0stack_server.transport.webhook_servicer import WebhookServicer

log = logging.getLogger("mem0stack.server")

SERVICE_NAME = memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name
GRAPH_SERVICE_NAME = graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"].full_name
WEBHOOK_SERVICE_NAME = webhook_service_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name
ADMIN_SERVICE_NAME = admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


# Health probes would drown real traces, and a span per hours-long server stream says
# little (the instrumentation also fails to detach its context when a client cancels one).
_TRACED = otel_filters.negate(
    otel_filters.any_of(
        otel_filters.health_check(),
        otel_filters.method_name("WatchMemories"),
        otel_filters.method_name("ExportMemories"),
    )
)


def build_embedder(settings: Settings) -> Embedder:
    return create_embedder(
        settings.embedder,
        model=settings.embedding_model,
        base_url=settings.embedding_base_url,
        api_key=settings.embedding_api_key.get_secret_value()
        if settings.embedding_api_key
        else None,
        dimensions=settings.embedding_dimensions,
        timeout_s=settings.embedding_timeout_s,
        batch_size=settings.embedding_batch_size,
        cache_size=settings.embedding_cache_size,
        int8_queries=settings.embedding_int8_queries,
    )


async def open_database(settings: Settings, dsn: str, embedder: Embedder) -> asyncpg.Pool:
    """A migrated pool, checked against the embedder's model and dimension."""
    pool = await create_pool(
        dsn,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        ef_search=settings.hnsw_ef_search,
        connect_timeout_s=settings.db_connect_timeout_s,
    )
    try:
        await migrate(pool, embedding_model=embedder.model, embedding_dim=embedder.dimension)
    except BaseException:
        await pool.close()
        raise
    return pool


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class RunningServer:
    """A started server and what it owns, so tests and the CLI can stop it cleanly."""

    server: grpc.aio.Server
    health: HealthServicer
    pool: asyncpg.Pool
    embedder: Embedder
    port: int
    settings: Settings
    listener: FeedListener
    background: list[asyncio.Task[None]]
    operations: Operations | None = None
    llm: LLMClient | None = None
    graph: GraphMemory | None = None
    platform: PlatformServer | None = None
    webhooks: WebhookWorker | None = None
    access_log: AccessLog | None = None
    usage: UsageMeter | None = None
    serving: ServingState | None = None
    monitor: DatabaseMonitor | None = None

    async def stop(self) -> None:
        """Drain: report NOT_SERVING, let calls in flight finish, then close resources.

        Between the two, new calls are still served for ``drain_delay_s``: load balancers
        (Envoy's health checks) need that long to see NOT_SERVING and move traffic away,
        instead of finding refused connections. Then new calls are refused with
        UNAVAILABLE (SHUTTING_DOWN, RetryInfo), open streams end with the cursor to resume
        from, and the calls already running get the grace period to finish before the gRPC
        server stops: stopping it first would cancel the calls it had received but not
        yet started. Every later step is bounded, so a database that is away cannot hold
        the exit up.
        """
        await self.health.enter_graceful_shutdown()
        metrics.SERVING.set(0)
        if self.settings.drain_delay_s > 0:
            await asyncio.sleep(self.settings.drain_delay_s)
        grace = self.settings.grace_period_s
        deadline = time.monotonic() + grace
        platform = asyncio.ensure_future(self.platform.stop(grace)) if self.platform else None
        if self.serving is not None:
            self.serving.start_draining()
            if not await self.serving.wait_idle(grace):
                log.warning(
                    "calls still running when the grace period ended",
                    extra={"calls": self.serving.in_flight},
                )
        await self.server.stop(max(deadline - time.monotonic(), 0.1))
        if platform is not None:
            await platform
        if self.monitor is not None:
            await self.monitor.stop()
        if self.operations is not None:
            await _bounded(self.operations.stop(grace), grace + _CLOSE_S, "operations")
        if self.graph is not None:
            await _bounded(self.graph.stop(), _CLOSE_S, "graph worker")
        if self.webhooks is not None:
            await _bounded(self.webhooks.stop(), _CLOSE_S, "webhook worker")
        if self.access_log is not None:
            # After the calls, so every one is written (unless the database is away).
            await _bounded(self.access_log.stop(), _CLOSE_S, "access log")
        if self.usage is not None:
            await self.usage.stop()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await _bounded(self.listener.close(), _CLOSE_S, "feed listener")
        if not await _bounded(self.pool.close(), _CLOSE_S, "database pool"):
            self.pool.terminate()
        await self.embedder.aclose()
        if self.llm is not None:
            await self.llm.aclose()
        tracing.shutdown()


#: How long each resource may take to close on shutdown before it is abandoned.
_CLOSE_S = 5.0


async def _bounded(step: Awaitable[object], seconds: float, what: str) -> bool:
    """Await one shutdown step for at most ``seconds``; whether it finished in time."""
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.warning("gave up waiting for the %s to stop", what, extra={"after_s": seconds})
        return False
    except DATABASE_ERRORS as exc:
        log.warning("the %s stopped with a database error: %s", what, exc)
    return True


async def start(
    settings: Settings, dsn: str, embedded: EmbeddedPostgres | None = None
) -> RunningServer:
    """Start serving on ``settings.listen``; the database must be reachable at ``dsn``.

    ``embedded`` is the PostgreSQL the server runs itself, which it starts again should it
    die; without it the database is external and the server only reconnects.
    """
    llm = llm_from_settings(settings)  # first: a configuration error stops start-up at once
    tracing.configure()
    if llm is None:
        log.warning(
            "no LLM configured: AddMemories stores user messages verbatim, without fact "
            "extraction or reconciliation, and says so in its warnings; set "
            "MEM0STACK_LLM_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY) to extract facts "
            "(docs/llm.md)"
        )
    else:
        log.info("LLM configured: model %s", settings.llm_model)
    credentials = server_credentials(settings)  # unusable certificate files stop start-up here
    embedder = build_embedder(settings)
    # embed/ and store/ know nothing of metrics: they are fed from here.
    set_query_observer(_on_query)
    set_acquire_observer(metrics.observe_db_pool_acquire)
    set_cache_observer(metrics.observe_embedding_cache)
    pool = await open_database(settings, dsn, embedder)
    set_batch_observer(metrics.observe_embedding_batch)
    metrics.watch_db_pool(pool)
    set_signing_key(await token_secret(pool))
    metrics.BUILD_INFO.labels(
        _version(), embedder.model, settings.llm_model if llm is not None else ""
    ).set(1)
    key_store = KeyStore(pool)
    authenticator = await Authenticator.create(key_store, settings)

    host, port = settings.listen_host, settings.listen_port
    if authenticator.development:
        if not _is_loopback(host):
            log.warning(
                "development mode binds to loopback only: not listening on %s; create a key "
                "with `mem0stack keys create --admin` (or set MEM0STACK_AUTH=keys) to listen there",
                host,
            )
            host = "127.0.0.1"
        log.warning(
            "development mode: this database has never held an API key, so every call is "
            "allowed as admin until the first key is created "
            "(`mem0stack keys create --admin`); set MEM0STACK_AUTH=keys to require keys always"
        )
    else:
        log.info("API keys required on every call (auth=%s)", settings.auth)

    # The composition root: every part is built whole here, in dependency order.
    started = datetime.now(UTC)
    usage = UsageMeter(UsageStore(pool, timeout_s=settings.db_timeout_s))
    usage.start()
    store = MemoryStore(
        pool,
        timeout_s=settings.db_timeout_s,
        max_memories_per_user=settings.max_memories_per_user,
    )
    embeddings = Embeddings(embedder)
    idempotency = Idempotency(store)
    graph: GraphMemory | None = None
    if settings.neo4j_uri:
        graph = GraphMemory(
            settings, dsn, pool, embedder.dimension, embeddings.documents, llm, usage=usage
        )
        await graph.start()
    pipeline = None
    if llm is not None:
        hook = queue_extraction if graph is not None else None
        pipeline = InferencePipeline(settings, store, embeddings.documents, llm, hook, usage=usage)
    adder = MemoryAdder(settings, store, embeddings, pipeline)
    operations = Operations(
        settings, OperationStore(pool, timeout_s=settings.db_timeout_s), adder.run
    )
    await operations.start()
    access_log = AccessLog(AccessLogStore(pool), settings.audit_retention_days)
    await access_log.start()
    health_servicer = HealthServicer()
    serving = ServingState()
    monitor = DatabaseMonitor(
        dsn,
        pool,
        ProbeSettings(
            interval_s=settings.db_probe_interval_s,
            timeout_s=min(settings.db_connect_timeout_s, 3.0),
            backoff_initial_s=0.1,
            backoff_max_s=settings.db_backoff_max_s,
        ),
        _on_database_change(serving, health_servicer),
        embedded,
        metrics.DATABASE_RESTARTS.inc,
    )
    serving.database_retry_s = monitor.retry_after_s
    server = grpc.aio.server(
        interceptors=[
            aio_server_interceptor(filter_=_TRACED),  # type: ignore[no-untyped-call]
            ObservabilityInterceptor(),
            ErrorInterceptor(),
            ServingInterceptor(serving, monitor.suspect),
            AuthInterceptor(authenticator),
            RequestCheckInterceptor(),
            AuditInterceptor(access_log),
        ],
        options=[
            ("grpc.max_receive_message_length", 32 * 1024 * 1024),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ],
    )
    listener = FeedListener(dsn)
    await listener.start()
    memories = Memories(settings, store, embeddings, idempotency)
    search = Search(settings, store, embeddings, graph.service if graph else None, usage=usage)
    add = AddMemories(adder, operations, idempotency)
    servicer = MemoryServicer(
        settings,
        memories=memories,
        search=search,
        add=add,
        operations=operations,
        events=EventStore(pool),
        listener=listener,
        store=store,
        embeddings=embeddings,
        serving=serving,
    )
    memory_service_pb2_grpc.add_MemoryServiceServicer_to_server(servicer, server)
    graph_service_pb2_grpc.add_GraphServiceServicer_to_server(
        GraphServicer(graph.service if graph is not None else None), server
    )
    webhook_store = WebhookStore(pool, timeout_s=settings.db_timeout_s)
    webhook_service_pb2_grpc.add_WebhookServiceServicer_to_server(
        WebhookServicer(Webhooks(webhook_store)), server
    )
    erasure = Erasure(pool, embeddings)
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(
            ApiKeys(key_store),
            Users(UsageStore(pool, timeout_s=settings.db_timeout_s)),
            erasure,
            ServerStatus(
                ServerFacts(
                    version=_version(),
                    embedder_model=embedder.model,
                    embedding_dimension=embedder.dimension,
                    llm_model=settings.llm_model or "" if llm is not None else "",
                    graph_enabled=graph is not None,
                    start_time=started,
                ),
                pool,
                authenticator,
            ),
        ),
        server,
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            GRAPH_SERVICE_NAME,
            WEBHOOK_SERVICE_NAME,
            ADMIN_SERVICE_NAME,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    await server.start()
    # mem0's Platform REST API: the same services, on its own port (Envoy routes to it).
    platform = await start_platform(
        PlatformServices(
            authenticator=authenticator,
            memories=memories,
            search=search,
            add=add,
            operations=operations,
            erasure=erasure,
            store=PlatformStore(pool, timeout_s=settings.db_timeout_s),
            max_batch_items=settings.max_batch_items,
            access_log=access_log,
        ),
        settings,
        host,
    )
    for service in ("", SERVICE_NAME, GRAPH_SERVICE_NAME, WEBHOOK_SERVICE_NAME, ADMIN_SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    metrics.SERVING.set(1)
    metrics.DATABASE_UP.set(1)
    await monitor.start()
    tls = "off" if credentials is None else "mutual" if settings.tls_client_ca_file else "on"
    log.info(
        "serving", extra={"address": f"{host}:{bound}", "embedder": embedder.model, "tls": tls}
    )
    pruner = asyncio.create_task(
        _prune_feed_periodically(pool, timedelta(hours=settings.event_retention_hours)),
        name="feed-pruner",
    )
    stats = asyncio.create_task(
        _count_periodically(pool, settings.stats_interval_s), name="stats-counter"
    )
    expiry = asyncio.create_task(
        sweep_periodically(
            pool,
            ExpirySettings(
                retention=timedelta(hours=settings.expiry_retention_hours),
                interval_s=settings.expiry_sweep_interval_s,
                timeout_s=settings.db_timeout_s,
            ),
        ),
        name="expiry-sweeper",
    )
    # Deliveries run beside the writes, never in them: a dead receiver slows nothing else.
    webhook_worker = WebhookWorker(
        webhook_store,
        DeliverySettings(
            poll_s=settings.webhook_poll_s,
            timeout_s=settings.webhook_timeout_s,
            retry_s=settings.webhook_retry_s,
            backoff_initial_s=settings.webhook_backoff_initial_s,
            backoff_max_s=settings.webhook_backoff_max_s,
            concurrency=settings.webhook_concurrency,
            retention=timedelta(hours=settings.webhook_delivery_retention_hours),
        ),
    )
    webhook_worker.start()
    return RunningServer(
        server,
        health_servicer,
        pool,
        embedder,
        bound,
        settings,
        listener,
        [pruner, stats, expiry],
        operations,
        llm,
        graph,
        platform,
        webhook_worker,
        access_log,
        usage,
        serving=serving,
        monitor=monitor,
    )


async def _prune_feed_periodically(pool: asyncpg.Pool, retention: timedelta) -> None:
    """Trim the change feed to its retention, at start-up and then hourly."""
    while True:
        try:
            deleted = await EventStore(pool).prune(retention)
            if deleted:
                log.info("pruned change feed", extra={"deleted": deleted})
        except DATABASE_ERRORS as exc:
            log.warning("could not prune the change feed: %s", exc)
        await asyncio.sleep(3600)


def _on_query(statement: str, seconds: float, failed: bool) -> None:
    metrics.observe_db_query(seconds)
    tracing.record_query(statement, seconds, failed)


async def _count_periodically(pool: asyncpg.Pool, interval_s: float) -> None:
    """Refresh the gauges of what the database holds, at start-up and every interval."""
    while True:
        try:
            stats = await read_stats(pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            metrics.DATABASE_UP.set(0)
            log.warning("could not count memories for the metrics: %s", exc)
        else:
            metrics.DATABASE_UP.set(1)
            for state, count in stats.memories.items():
                metrics.MEMORIES.labels(state).set(count)
            metrics.USERS.set(stats.users)
            metrics.DATABASE_SIZE.set(stats.database_bytes)
            metrics.WAL_SIZE.set(stats.wal_bytes)
        await asyncio.sleep(interval_s)


def _version() -> str:
    try:
        return importlib.metadata.version("mem0-stack")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def start_metrics(settings: Settings) -> None:
    """Expose /metrics for Prometheus unless disabled with an empty address."""
    if not settings.metrics_listen:
        return
    host, _, port = settings.metrics_listen.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1")
    log.info("metrics", extra={"address": settings.metrics_listen})


def _on_database_change(
    serving: ServingState, health_servicer: HealthServicer
) -> Callable[[bool], Awaitable[None]]:
    """What the server does when the database goes away or comes back."""

    async def changed(available: bool) -> None:
        serving.set_database_available(available)
        metrics.DATABASE_UP.set(1 if available else 0)
        if not available:
            metrics.DATABASE_OUTAGES.inc()
        await health_servicer.set_all(
            health_pb2.HealthCheckResponse.SERVING
            if available
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        metrics.SERVING.set(1 if available and not serving.draining else 0)

    return changed


async def serve(settings: Settings, dsn: str, embedded: EmbeddedPostgres | None = None) -> None:
    """Run until SIGTERM or SIGINT, then drain gracefully."""
    running = await start(settings, dsn, embedded)
    start_metrics(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"grace_period_s": settings.grace_period_s})
    await running.stop()
    log.info("stopped")
