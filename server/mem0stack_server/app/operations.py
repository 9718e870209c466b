"""Background AddMemories (``async_mode``): a bounded queue and workers in the server process.

``submit`` stores the request as a PENDING operation and queues its id; the caller gets the
operation's name at once. Workers claim operations with a lease (renewed while they run),
run them exactly like a synchronous call, and commit the result in the same transaction as
the memory changes, so a crash can never leave changes without a result or apply them
twice. Failures are recorded with the status the synchronous call would have returned.

Recovery: at start-up every PENDING operation, and every RUNNING one whose lease lapsed (its
server died), is queued again; a periodic sweep does the same for operations left behind
later, by this server or another replica. Only one claim of an operation can succeed, so two
servers finding the same orphan is harmless. A graceful stop gives running operations the
grace period, then hands the rest back as PENDING.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from google.protobuf import any_pb2

from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack.v1 import operation_pb2
from mem0stack_server.config import Settings
from mem0stack_server.context import deadline_var, request_id_var
from mem0stack_server.domain.convert import timestamp
from mem0stack_server.domain.errors import Code, DomainError, Reason, invalid, status_proto
from mem0stack_server.domain.ids import new_memory_id
from mem0stack_server.domain.names import parse_parent
from mem0stack_server.domain.records import Caller
from mem0stack_server.obs import metrics
from mem0stack_server.store.database import CONNECTION_FAILURES, DATABASE_ERRORS
from mem0stack_server.store.memories import Finish
from mem0stack_server.store.operations import LeaseLostError, OperationStore

log = logging.getLogger(__name__)

#: Does the work of one AddMemories (``adding.MemoryAdder.run``).
Runner = Callable[
    [str, svc.AddMemoriesRequest, Caller, Finish | None], Awaitable[svc.AddMemoriesResponse]
]

_RESPONSE_TYPE = "type.googleapis.com/" + svc.AddMemoriesResponse.DESCRIPTOR.full_name
_PURGE_EVERY_S = 600.0


def operation_name(user_id: str, operation_id: uuid.UUID) -> str:
    return f"users/{user_id}/operations/{operation_id}"


def parse_operation_name(value: str, field: str = "name") -> tuple[str, uuid.UUID]:
    """The user and operation id of ``users/{user}/operations/{operation}``."""
    parts = value.split("/")
    problem = invalid(
        Reason.INVALID_NAME,
        field,
        f"{value[:200]!r} is not a valid name; expected users/{{user}}/operations/{{operation}}",
        name=value[:200],
    )
    if len(parts) != 4 or parts[2] != "operations":
        raise problem
    try:
        user_id = parse_parent("/".join(parts[:2]), field)
        return user_id, uuid.UUID(parts[3])
    except (DomainError, ValueError):
        raise problem from None


def operation_not_found(name: str) -> DomainError:
    return DomainError(
        Code.NOT_FOUND,
        Reason.OPERATION_NOT_FOUND,
        f"operation {name!r} not found",
        name=name,
    )


class Operations:
    """The queue, the workers and the sweeper of background operations."""

    def __init__(self, settings: Settings, store: OperationStore, run: Runner) -> None:
        self.settings = settings
        self.store = store
        self.run = run
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.operation_lease_s)
        self._queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        # Queued or running here: the sweeper must not queue them a second time.
        self._here: set[uuid.UUID] = set()
        self._running: set[uuid.UUID] = set()
        self._idle = asyncio.Event()  # set while nothing runs
        self._idle.set()
        self._reserved = 0
        self._workers: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start the workers and the sweeper (whose first sweep recovers after a crash).

        Call it outside any RPC, so the tasks do not inherit a call's deadline.
        """
        self._workers = [
            asyncio.create_task(self._work(), name=f"operation-worker-{i}")
            for i in range(max(1, self.settings.operation_workers))
        ]
        self._sweeper = asyncio.create_task(self._sweep(), name="operation-sweeper")

    async def stop(self, grace_s: float) -> None:
        """Let running operations finish for up to ``grace_s``, then hand the rest back."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace_s)
        left = list(self._running)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(
            *self._workers, *([self._sweeper] if self._sweeper else []), return_exceptions=True
        )
        try:
            await self.store.release(left, self.owner)
        except DATABASE_ERRORS as exc:
            log.warning("could not hand back running operations: %s", exc)

    async def submit(self, user_id: str, req: svc.AddMemoriesRequest, caller: Caller) -> str:
        """Store and queue an operation; RESOURCE_EXHAUSTED when the queue is full."""
        limit = self.settings.operation_queue_size
        if self._stopping or self._queue.qsize() + self._reserved >= limit:
            metrics.OPERATIONS_REJECTED.inc()
            raise DomainError(
                Code.RESOURCE_EXHAUSTED,
                Reason.OPERATION_QUEUE_FULL,
                f"{limit} background operations are waiting already; retry later or call "
                "without async_mode",
                limit=str(limit),
                retry_after_s=max(1.0, min(30.0, self.settings.llm_timeout_s / 4)),
            )
        op_id = new_memory_id()
        self._reserved += 1
        try:
            await self.store.create(
                op_id, user_id, req.SerializeToString(), caller.actor, caller.request_id
            )
        finally:
            self._reserved -= 1
        self._enqueue(op_id)
        return operation_name(user_id, op_id)

    async def get(self, user_id: str, op_id: uuid.UUID) -> operation_pb2.Operation:
        row = await self.store.get(user_id, op_id)
        if row is None:
            raise operation_not_found(operation_name(user_id, op_id))
        state = row["state"]
        op = operation_pb2.Operation(
            name=operation_name(row["user_id"], row["id"]),
            state=operation_pb2.Operation.State.Value(state),
            done=state in ("SUCCEEDED", "FAILED"),
            create_time=timestamp(row["create_time"]),
            start_time=timestamp(row["start_time"]),
            end_time=timestamp(row["end_time"]),
            attempts=row["attempts"],
        )
        if row["result"] is not None:
            op.response.CopyFrom(any_pb2.Any(type_url=_RESPONSE_TYPE, value=bytes(row["result"])))
        if row["error"] is not None:
            op.error.ParseFromString(bytes(row["error"]))
        return op

    def _enqueue(self, op_id: uuid.UUID) -> None:
        self._here.add(op_id)
        self._queue.put_nowait(op_id)
        metrics.OPERATION_QUEUE_DEPTH.set(self._queue.qsize())

    async def _work(self) -> None:
        while True:
            op_id = await self._queue.get()
            metrics.OPERATION_QUEUE_DEPTH.set(self._queue.qsize())
            try:
                if not self._stopping:  # a stopping server leaves it PENDING for the next
                    await self._execute(op_id)
            except Exception:
                log.exception("background operation failed unexpectedly")
            finally:
                self._here.discard(op_id)

    async def _execute(self, op_id: uuid.UUID) -> None:
        row = await self.store.claim(op_id, self.owner, self.lease)
        if row is None:
            return  # finished, or another worker holds it
        request_id_var.set(row["request_id"] or f"operation-{op_id}")
        if row["attempts"] > self.settings.operation_max_attempts:
            await self._fail(
                op_id,
                DomainError(
                    Code.INTERNAL,
                    Reason.INTERNAL,
                    f"the operation was started {row['attempts'] - 1} times without finishing "
                    "(its server stopped each time); it was abandoned",
                ),
            )
            return
        request = svc.AddMemoriesRequest.FromString(bytes(row["request"]))
        caller = Caller(actor=row["actor"], request_id=row["request_id"])
        owner = self.owner

        async def finish(conn: asyncpg.Connection, response: svc.AddMemoriesResponse) -> None:
            await self.store.succeed(conn, op_id, owner, response.SerializeToString())

        self._running.add(op_id)
        metrics.OPERATIONS_RUNNING.set(len(self._running))
        self._idle.clear()
        renewer = asyncio.create_task(self._renew(op_id))
        timeout = self.settings.operation_timeout_s
        deadline_var.set(time.monotonic() + timeout)
        try:
            async with asyncio.timeout(timeout):
                await self.run(row["user_id"], request, caller, finish)
            metrics.OPERATIONS_FINISHED.labels("SUCCEEDED").inc()
        except LeaseLostError:
            log.warning("lost the lease of a background operation; another worker has it")
        except DomainError as exc:
            await self._fail(op_id, exc)
        except TimeoutError:
            await self._fail(
                op_id,
                DomainError(
                    Code.DEADLINE_EXCEEDED,
                    Reason.DEADLINE_EXCEEDED,
                    f"the operation did not finish within {timeout:g}s; nothing was written",
                ),
            )
        except CONNECTION_FAILURES as exc:
            # The database went away: the lease lapses and a later sweep runs it again.
            log.warning("background operation interrupted: %s", exc)
        except Exception:
            log.exception("background operation failed")
            await self._fail(
                op_id,
                DomainError(
                    Code.INTERNAL,
                    Reason.INTERNAL,
                    f"internal error; quote operation {op_id} when reporting it",
                ),
            )
        finally:
            deadline_var.set(None)
            renewer.cancel()
            self._running.discard(op_id)
            metrics.OPERATIONS_RUNNING.set(len(self._running))
            if not self._running:
                self._idle.set()

    async def _fail(self, op_id: uuid.UUID, error: DomainError) -> None:
        status = status_proto(error)
        await self.store.fail(op_id, self.owner, status.SerializeToString())
        metrics.OPERATIONS_FINISHED.labels("FAILED").inc()
        log.info(
            "background operation failed", extra={"operation": str(op_id), "reason": error.reason}
        )

    async def _renew(self, op_id: uuid.UUID) -> None:
        interval = max(0.2, self.settings.operation_lease_s / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.store.renew(op_id, self.owner, self.lease):
                    return
            except DATABASE_ERRORS as exc:
                log.warning("could not renew an operation lease: %s", exc)

    async def _sweep(self) -> None:
        """Queue operations nobody is running: all pending ones at start, then orphans."""
        interval = max(0.5, self.settings.operation_lease_s / 2)
        pending_age = timedelta(0)
        last_purge = 0.0
        while True:
            try:
                room = self.settings.operation_queue_size - self._queue.qsize()
                if room > 0:
                    for op_id in await self.store.orphans(pending_age, room):
                        if op_id not in self._here:
                            self._enqueue(op_id)
                if time.monotonic() - last_purge > _PURGE_EVERY_S:
                    last_purge = time.monotonic()
                    purged = await self.store.purge_finished(
                        timedelta(hours=self.settings.operation_retention_h)
                    )
                    if purged:
                        log.info("purged finished operations", extra={"deleted": purged})
            except DATABASE_ERRORS as exc:
                log.warning("could not sweep background operations: %s", exc)
            # After the first sweep, a PENDING operation is an orphan only once it has
            # waited a whole lease: younger ones are most likely in a live server's queue.
            pending_age = self.lease
            await asyncio.sleep(interval)
