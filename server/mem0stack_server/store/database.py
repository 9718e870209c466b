"""PostgreSQL: the embedded server, the connection pool, and migrations."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every replica.
_MIGRATION_LOCK = 0x6D656D30


class EmbeddingMismatchError(RuntimeError):
    """The database was made with another embedding model or dimension."""


class EmbeddedPostgres:
    """The embedded PostgreSQL of a data directory: its URI, and a way to start it again.

    pgserver starts the postmaster detached (through ``pg_ctl``), so nothing restarts it
    when it dies; the server's database monitor asks :meth:`restart` to.
    """

    def __init__(self, server: Any) -> None:
        self._server = server
        self.uri: str = server.get_uri()

    @property
    def data_dir(self) -> Path:
        return Path(self._server.pgdata)

    def running(self) -> bool:
        """Whether the postmaster named in ``postmaster.pid`` is alive."""
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self._server.pgdata)
        return info is not None and bool(info.is_running())

    def restart(self) -> None:
        """Start the postmaster again on the same data directory and socket (blocking:
        ``pg_ctl -w`` waits until it accepts connections, after crash recovery)."""
        with self._server._lock:  # pgserver's lock: a `mem0stack keys` may be starting it too
            self._server.ensure_postgres_running()
        uri = self._server.get_uri()
        if uri != self.uri:  # the socket lives in the data directory: never expected
            raise RuntimeError(f"the embedded postgres came back at {uri}, not {self.uri}")


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or join) the embedded PostgreSQL in ``data_dir``.

    pgserver forks the postmaster, so call this before any gRPC thread exists.
    The server keeps running until the last process using it exits.
    """
    # pgserver logs every step at INFO and platformdirs warns that XDG_RUNTIME_DIR is
    # unset (it falls back to /tmp); neither helps an operator.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # imported here: production deployments never load it

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    embedded = EmbeddedPostgres(server)
    log.info("embedded postgres ready", extra={"data_dir": str(data_dir)})
    return embedded


#: The failures that mean the database cannot be reached (or is restarting), as opposed to
#: a statement it refused: the connection is gone, cannot be made, or the server is
#: shutting down or recovering from a crash (SQLSTATE classes 08 and 57P).
CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # ConnectionDoesNotExistError, a pool closed under it
    # A connection lost in the middle of a statement can leave asyncpg's protocol in a
    # state the next statement on it (the pool's reset on release) trips over.
    asyncpg.InternalClientError,
)


#: Every failure of a statement or a connection that a background loop (a worker, a
#: sweeper, a flusher) must survive to try again: a loop that let one of these escape
#: would stop for good at the first outage.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_FAILURES,
    asyncpg.PostgresError,
    TimeoutError,
)


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away rather than that a statement failed."""
    return isinstance(exc, CONNECTION_FAILURES)


#: Told ``(statement, seconds, failed)`` after every SQL statement on the pool's connections,
#: in the context of the task that ran it; the server installs it (store/ knows nothing of
#: metrics or traces). See :func:`set_query_observer`.
QueryObserver = Callable[[str, float, bool], None]
_query_observer: QueryObserver | None = None


def set_query_observer(observer: QueryObserver | None) -> None:
    """Report the time of every statement on pools created after this call."""
    global _query_observer
    _query_observer = observer


def _log_query(query: Any) -> None:
    observer = _query_observer
    if observer is not None:
        observer(query.query, query.elapsed, query.exception is not None)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)
    conn.add_query_logger(_log_query)
    await conn.set_type_codec(
        "jsonb", encoder=_json_dumps, decoder=_json_loads, schema="pg_catalog", format="text"
    )


def _json_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_loads(value: str) -> Any:
    return json.loads(value)


async def create_pool(
    dsn: str, *, min_size: int, max_size: int, ef_search: int, connect_timeout_s: float = 60.0
) -> asyncpg.Pool:
    """A pool whose connections speak pgvector and decode jsonb to Python values.

    ``connect_timeout_s`` bounds each new connection: while the database is away, a call
    that needs one fails after it instead of hanging.
    """
    # The vector type must exist before the pool's connections register its codec.
    bootstrap = await asyncpg.connect(dsn, timeout=connect_timeout_s)
    try:
        await bootstrap.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await bootstrap.close()
    pool = CountingPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        timeout=connect_timeout_s,
        server_settings={"hnsw.ef_search": str(ef_search), "jit": "off"},
    )
    await pool
    return pool


#: Told the seconds a task waited for a connection, after every acquire from a
#: :class:`CountingPool` (failed and cancelled ones included). See :func:`set_acquire_observer`.
AcquireObserver = Callable[[float], None]
_acquire_observer: AcquireObserver | None = None


def set_acquire_observer(observer: AcquireObserver | None) -> None:
    """Report how long every connection acquire waited."""
    global _acquire_observer
    _acquire_observer = observer


class CountingPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg is untyped
    """An ``asyncpg.Pool`` that also counts the tasks waiting for a connection.

    asyncpg exposes the pool's size and idle connections but not its queue, and a queue
    is what an exhausted pool looks like from outside: requests slow down while the
    database itself stays quick. Every acquire (``acquire()``, and ``fetch``/``execute``
    on the pool, which acquire internally) goes through ``Pool._acquire``, the one place
    to count; asyncpg is pinned and a test checks the count moves.
    """

    __slots__ = ("_waiting",)

    def __init__(self, dsn: str, **kwargs: Any) -> None:
        # The defaults asyncpg.create_pool would pass.
        kwargs.setdefault("max_queries", 50000)
        kwargs.setdefault("max_inactive_connection_lifetime", 300.0)
        kwargs.setdefault("loop", None)
        kwargs.setdefault("connection_class", asyncpg.Connection)
        kwargs.setdefault("record_class", asyncpg.Record)
        super().__init__(dsn, **kwargs)
        self._waiting = 0

    def get_waiting(self) -> int:
        """Acquires in progress: tasks waiting for a free (or a new) connection."""
        return self._waiting

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's signature)
        start = time.perf_counter()
        self._waiting += 1
        try:
            return await super()._acquire(timeout)
        finally:
            self._waiting -= 1
            observer = _acquire_observer
            if observer is not None:
                observer(time.perf_counter() - start)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def _migrations() -> list[Migration]:
    folder = resources.files("mem0stack_server.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append(Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


async def migrate(pool: asyncpg.Pool, *, embedding_model: str, embedding_dim: int) -> None:
    """Apply pending migrations under an advisory lock, then check the embedding model.

    The lock makes concurrent replicas wait for the first one instead of racing. The
    model and dimension are recorded on first start; starting later with a different
    dimension raises EmbeddingMismatchError instead of corrupting search.
    """
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            applied = {
                r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")
            }
            for migration in _migrations():
                if migration.version in applied:
                    continue
                sql = migration.sql.replace("{{embedding_dim}}", str(embedding_dim))
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        hashlib.sha256(migration.sql.encode()).hexdigest(),
                    )
                log.info("applied migration", extra={"migration": migration.name})
            await _check_embedding(conn, embedding_model, embedding_dim)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)


async def _check_embedding(conn: asyncpg.Connection, model: str, dim: int) -> None:
    rows = await conn.fetch(
        "SELECT key, value FROM store_meta WHERE key IN ('embedding_model', 'embedding_dim')"
    )
    meta = {r["key"]: r["value"] for r in rows}
    if not meta:
        await conn.executemany(
            "INSERT INTO store_meta (key, value) VALUES ($1, $2)",
            [("embedding_model", model), ("embedding_dim", str(dim))],
        )
        return
    if int(meta["embedding_dim"]) != dim:
        raise EmbeddingMismatchError(
            f"this database holds {meta['embedding_dim']}-dimensional embeddings from "
            f"{meta['embedding_model']!r}, but the configured embedder {model!r} makes "
            f"{dim}-dimensional ones; configure the original embedder or use a new database"
        )
    if meta["embedding_model"] != model:
        log.warning(
            "embedding model differs from the one the data was made with; search quality "
            "will suffer until memories are re-embedded",
            extra={"stored_model": meta["embedding_model"], "configured_model": model},
        )
