"""Server interceptors: metrics and logs, error mapping, authentication, request checks,
the access audit log.

Order (outermost first): tracing (OpenTelemetry's), ``ObservabilityInterceptor``,
``ErrorInterceptor``, ``ServingInterceptor``, ``AuthInterceptor``,
``RequestCheckInterceptor``, ``AuditInterceptor``.
Errors raised by authentication and by the request checks are therefore mapped like any
other, the metrics see the final status code, and only an authenticated caller learns what
is wrong with its request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import asyncpg
import grpc
from grpc_status import rpc_status

from mem0stack_server.app.access_log import AccessLog
from mem0stack_server.app.serving import ServingState
from mem0stack_server.auth.authenticator import Authenticator
from mem0stack_server.auth.principal import Principal
from mem0stack_server.context import deadline_var, request_id_var
from mem0stack_server.domain.errors import Code, DomainError, Reason, invalid, status_proto
from mem0stack_server.domain.validation import check_message
from mem0stack_server.obs import metrics
from mem0stack_server.store.database import unreachable

log = logging.getLogger("mem0stack.rpc")

principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)

# Services anyone may call: load balancers probe health, operators list with reflection.
PUBLIC_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")

Handler = Callable[[Any, grpc.aio.ServicerContext], Any]


def current_principal() -> Principal:
    """The caller of the RPC being served (set by AuthInterceptor)."""
    principal = principal_var.get()
    if principal is None:  # a bug: a method ran without the auth interceptor
        raise RuntimeError("no authenticated principal in this context")
    return principal


class _WrappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps the behaviour of every handler with ``around`` (unary) or ``around_stream``."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method: str = details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, "unary", handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, "client_stream", handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, "server_stream", handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._stream(method, "bidi_stream", handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _unary(self, method: str, kind: str, inner: Handler) -> Handler:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await self.around(method, kind, context, lambda: inner(request, context))

        return behaviour

    def _stream(self, method: str, kind: str, inner: Handler) -> Handler:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for item in self.around_stream(
                method, kind, context, lambda: inner(request, context)
            ):
                yield item

        return behaviour

    async def around(
        self,
        method: str,
        kind: str,
        context: grpc.aio.ServicerContext,
        call: Callable[[], Awaitable[Any]],
    ) -> Any:
        return await call()

    async def around_stream(
        self,
        method: str,
        kind: str,
        context: grpc.aio.ServicerContext,
        call: Callable[[], AsyncIterator[Any]],
    ) -> AsyncIterator[Any]:
        async for item in call():
            yield item


def _labels(method: str, kind: str) -> tuple[str, str, str]:
    _, service, name = method.split("/", 2)
    return kind, service, name


class ObservabilityInterceptor(_WrappingInterceptor):
    """Request id, deadline, one log line and the RPC metrics per call."""

    async def around(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        labels = _labels(method, kind)
        self._begin(context, labels)
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            response = await call()
            metrics.MSG_SENT.labels(*labels).inc()
            return response
        except BaseException as exc:
            code = _final_code(context, exc)
            raise
        finally:
            self._end(labels, code, start)

    async def around_stream(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        labels = _labels(method, kind)
        self._begin(context, labels)
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            async for item in call():
                metrics.MSG_SENT.labels(*labels).inc()
                yield item
        except BaseException as exc:
            code = _final_code(context, exc)
            raise
        finally:
            self._end(labels, code, start)

    @staticmethod
    def _begin(context: grpc.aio.ServicerContext, labels: tuple[str, str, str]) -> None:
        metadata = dict(context.invocation_metadata() or ())
        request_id_var.set(str(metadata.get("x-request-id") or uuid.uuid4()))
        remaining = context.time_remaining()
        deadline_var.set(time.monotonic() + remaining if remaining is not None else None)
        metrics.STARTED.labels(*labels).inc()
        # A client stream's messages are counted as one: the handler reads them itself.
        metrics.MSG_RECEIVED.labels(*labels).inc()

    @staticmethod
    def _end(labels: tuple[str, str, str], code: grpc.StatusCode, start: float) -> None:
        elapsed = time.perf_counter() - start
        metrics.HANDLED.labels(*labels, code.name).inc()
        metrics.HANDLING_SECONDS.labels(*labels).observe(elapsed)
        principal = principal_var.get()
        if code in _SERVER_FAULTS:
            level = logging.WARNING
        elif labels[1] in PUBLIC_SERVICES:
            level = logging.DEBUG  # load balancers probe health every few seconds
        else:
            level = logging.INFO
        log.log(
            level,
            "rpc",
            extra={
                "method": f"{labels[1]}/{labels[2]}",
                "code": code.name,
                "duration_ms": round(elapsed * 1000, 3),
                "key_id": principal.key_id if principal else None,
            },
        )


def _final_code(context: grpc.aio.ServicerContext, exc: BaseException) -> grpc.StatusCode:
    """The status a call ended with; a client that went away is CANCELLED, not UNKNOWN."""
    code = context.code()
    if code is not None:
        return code
    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


_SERVER_FAULTS = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


def _to_api_error(exc: BaseException) -> DomainError:
    """Translate infrastructure failures; anything unexpected becomes INTERNAL."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, asyncpg.QueryCanceledError)):
        return DomainError(
            Code.DEADLINE_EXCEEDED,
            Reason.DEADLINE_EXCEEDED,
            "the deadline passed before the call finished; nothing was written",
        )
    if unreachable(exc):
        return DomainError(
            Code.UNAVAILABLE,
            Reason.DATABASE_UNAVAILABLE,
            "the database is unavailable; retry shortly",
            retry_after_s=1.0,
        )
    log.exception("unhandled error", exc_info=exc)
    return DomainError(
        Code.INTERNAL,
        Reason.INTERNAL,
        f"internal error; quote request id {request_id_var.get()} when reporting it",
    )


def status_of(error: DomainError) -> grpc.Status:
    """The gRPC status of ``error``: its code, message and ``google.rpc.Status`` details."""
    return rpc_status.to_status(status_proto(error))


class ErrorInterceptor(_WrappingInterceptor):
    """Maps exceptions to a rich gRPC status; the only place that aborts calls."""

    async def around(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        try:
            return await call()
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await self._abort(context, exc)

    async def around_stream(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        try:
            async for item in call():
                yield item
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await self._abort(context, exc)

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext, exc: Exception) -> None:
        status = status_of(_to_api_error(exc))
        await context.abort(status.code, status.details, status.trailing_metadata)


class ServingInterceptor(_WrappingInterceptor):
    """Refuses calls while the database is away or the server drains, at once and with a
    RetryInfo, instead of letting each find out the slow way; counts the calls it lets in,
    so the drain knows when they have all finished. Health and reflection always pass."""

    def __init__(self, serving: ServingState, on_unreachable: Callable[[], None]) -> None:
        self.serving = serving
        self.on_unreachable = on_unreachable

    def _admit(self, method: str) -> bool:
        """Whether the call counts (is not health or reflection); raises when refused."""
        if method.split("/")[1] in PUBLIC_SERVICES:
            return False
        refusal = self.serving.refusal()
        if refusal is not None:
            metrics.REFUSED.labels(str(refusal.reason)).inc()
            raise refusal
        return True

    async def around(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        if not self._admit(method):
            return await call()
        with self.serving.call():
            try:
                return await call()
            except Exception as exc:
                if unreachable(exc):
                    self.on_unreachable()  # probe now rather than at the next interval
                raise

    async def around_stream(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        if not self._admit(method):
            async for item in call():
                yield item
            return
        # Streams count too: they end themselves when the drain starts (with a cursor).
        with self.serving.call():
            try:
                async for item in call():
                    yield item
            except Exception as exc:
                if unreachable(exc):
                    self.on_unreachable()
                raise


class AuthInterceptor(_WrappingInterceptor):
    """Authenticates every call except health and reflection, within its key's rate."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def _authenticate(self, method: str, context: grpc.aio.ServicerContext) -> None:
        if method.split("/")[1] in PUBLIC_SERVICES:
            return
        metadata = dict(context.invocation_metadata() or ())
        principal_var.set(await self.authenticator.admit(metadata.get("authorization")))

    async def around(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        await self._authenticate(method, context)
        return await call()

    async def around_stream(self, method, kind, context, call):  # type: ignore[no-untyped-def]
        await self._authenticate(method, context)
        async for item in call():
            yield item


class _Undecodable:
    """What the request deserializer returns for bytes that are not the method's message."""

    def __init__(self, type_name: str) -> None:
        self.error = invalid(
            Reason.INVALID_ARGUMENT, "", f"the request is not a valid {type_name} message"
        )


def _decoding(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer``, returning :class:`_Undecodable` instead of raising.

    grpc.aio deserializes before any interceptor's behaviour runs, and answers a failure
    there with UNKNOWN and no details; the marker lets the handler raise a proper error.
    """
    if deserializer is None:
        return None
    type_name = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    name = type_name.full_name if type_name is not None else "request"

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # DecodeError, or a RecursionError on absurd nesting
            return _Undecodable(name)

    return decode


def _checked(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise request.error
    check_message(request)
    return request


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    # A client stream's messages are checked by the method: one bad item need not end it.
    async for request in requests:
        if isinstance(request, _Undecodable):
            raise request.error
        yield request


class RequestCheckInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Rejects, for every method, requests no method could serve: bytes that do not decode
    and values no field may hold (:func:`~mem0stack_server.domain.validation.check_message`).
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        decode = _decoding(handler.request_deserializer)
        serialize = handler.response_serializer
        if handler.unary_unary:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                return await inner_uu(_checked(request), context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, request_deserializer=decode, response_serializer=serialize
            )
        if handler.unary_stream:
            inner_us = handler.unary_stream

            async def unary_stream(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                async for item in inner_us(_checked(request), context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, request_deserializer=decode, response_serializer=serialize
            )
        if handler.stream_unary:
            inner_su = handler.stream_unary

            async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                return await inner_su(_decoded(requests), context)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, request_deserializer=decode, response_serializer=serialize
            )
        inner_ss = handler.stream_stream

        async def stream_stream(
            requests: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            async for item in inner_ss(_decoded(requests), context):
                yield item

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, request_deserializer=decode, response_serializer=serialize
        )


#: The calls the access log records, by method: the action and the field naming the user.
#: Writes are not here: every change already leaves a revision naming its key.
AUDITED: dict[str, tuple[str, str]] = {
    "/mem0stack.v1.MemoryService/GetMemory": ("read", "name"),
    "/mem0stack.v1.MemoryService/ListMemories": ("list", "parent"),
    "/mem0stack.v1.MemoryService/SearchMemories": ("search", "parent"),
    "/mem0stack.v1.MemoryService/ExportMemories": ("export", "parent"),
    "/mem0stack.v1.MemoryService/WatchMemories": ("watch", "parent"),
    "/mem0stack.v1.MemoryService/ListMemoryRevisions": ("history", "name"),
    "/mem0stack.v1.MemoryService/DeleteMemory": ("delete", "name"),
    "/mem0stack.v1.MemoryService/BatchDeleteMemories": ("delete", "parent"),
    "/mem0stack.v1.GraphService/ListEntities": ("graph", "parent"),
    "/mem0stack.v1.GraphService/GetEntity": ("graph", "name"),
    "/mem0stack.v1.GraphService/ListRelations": ("graph", "parent"),
    "/mem0stack.v1.AdminService/GetUserUsage": ("usage", "name"),
    "/mem0stack.v1.AdminService/EraseUser": ("erase", "name"),
}


class AuditInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Records each audited call (see :data:`AUDITED`) in the access log when it ends, with
    the caller's key, the user named, where it came from and how it ended; denied attempts
    included. Innermost, so it sees requests already checked and callers authenticated."""

    def __init__(self, access_log: AccessLog) -> None:
        self.access_log = access_log

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        audited = AUDITED.get(details.method)
        if handler is None or audited is None:
            return handler
        action, field = audited
        method = details.method.rsplit("/", 1)[1]

        def record(request: Any, peer: str, outcome: str) -> None:
            user = str(getattr(request, field, "")).split("/")
            if len(user) < 2 or user[0] != "users" or not user[1]:
                return  # a malformed name: refused before it reached anyone's memories
            self.access_log.record(
                user_id=user[1],
                key_id=current_principal().key_id,
                action=action,
                method=method,
                outcome=outcome,
                request_id=request_id_var.get(),
                peer=peer,
            )

        if handler.unary_unary:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                peer, outcome = context.peer() or "", "OK"
                try:
                    return await inner_uu(request, context)
                except BaseException as exc:
                    outcome = _outcome(exc)
                    raise
                finally:
                    record(request, peer, outcome)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        inner_us = handler.unary_stream

        async def unary_stream(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            # Read while the call is alive: once a client cancels a stream, grpc frees the
            # call, and asking the context for its peer then crashes the process.
            peer, outcome = context.peer() or "", "OK"
            try:
                async for item in inner_us(request, context):
                    yield item
            except BaseException as exc:
                outcome = _outcome(exc)
                raise
            finally:
                record(request, peer, outcome)

        return grpc.unary_stream_rpc_method_handler(
            unary_stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _outcome(exc: BaseException) -> str:
    """How an audited call ended, as a gRPC code name."""
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    if isinstance(exc, DomainError):
        return exc.code.name
    return "INTERNAL"
