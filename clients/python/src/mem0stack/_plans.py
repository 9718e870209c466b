"""Plans: what a client method asks of the transport, written once for both clients.

A method of :class:`~mem0stack.Client` or :class:`~mem0stack.AsyncClient` is made from a
*builder* (``_requests.py``): a function that takes the method's arguments and returns a
plan, which holds the request and how the response becomes the method's result. The two
clients only run plans, one blocking (grpc), the other awaiting (grpc.aio), so each request
and each result is written once; the method takes its name, signature and docstring from
the builder (:func:`made_from`). No I/O here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Generic, NamedTuple, TypeAlias, TypeVar, get_args

import grpc
from google.protobuf.message import Message

from mem0stack.errors import Mem0StackError
from mem0stack.v1 import operation_pb2

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")
F = TypeVar("F", bound=Callable[..., Any])

MEMORY_SERVICE = "MemoryService"
GRAPH_SERVICE = "GraphService"
WEBHOOK_SERVICE = "WebhookService"
ADMIN_SERVICE = "AdminService"


class Rpc(NamedTuple):
    """One method of a service of ``mem0stack.v1``: the attribute of its generated stub."""

    service: str
    method: str


def _fail(error: Mem0StackError, recover: Callable[[Mem0StackError], T] | None) -> T:
    if recover is None:
        raise error
    return recover(error)


@dataclass(frozen=True)
class Unary(Generic[T_co]):
    """One unary call, with the client's deadline (unless ``timeout``) and retries."""

    rpc: Rpc
    request: Message
    result: Callable[[Any], T_co]
    timeout: float | None = None
    recover: Callable[[Mem0StackError], T_co] | None = None
    """Turns a failure into a result or another exception; unset, the failure is raised."""

    def then(
        self, shape: Callable[[T_co], U], recover: Callable[[Mem0StackError], U] | None = None
    ) -> Unary[U]:
        """The same call, its result passed through ``shape``."""
        result = self.result
        return Unary(self.rpc, self.request, lambda r: shape(result(r)), self.timeout, recover)

    def fail(self, error: Mem0StackError) -> T_co:
        return _fail(error, self.recover)


@dataclass(frozen=True)
class Pages(Generic[T_co]):
    """Every item of a paginated list call, fetching page after page as they are read."""

    rpc: Rpc
    request: Message
    items: Callable[[Any], Iterable[T_co]]
    timeout: float | None = None

    @classmethod
    def over(cls, first: Unary[Any], items: Callable[[Any], Iterable[T]]) -> Pages[T]:
        """The pages of a list call, starting with the call ``first``."""
        return Pages(first.rpc, first.request, items, first.timeout)

    def advance(self, page: Any) -> bool:
        """Point the request at the page after ``page``; False when it was the last."""
        token: str = page.next_page_token
        self.request.page_token = token  # type: ignore[attr-defined]
        return bool(token)


@dataclass(frozen=True)
class Collect(Generic[T_co]):
    """The items of ``pages`` (the first ``limit``; 0 means all) made into one result."""

    pages: Pages[Any]
    result: Callable[[list[Any]], T_co]
    limit: int = 0
    recover: Callable[[Mem0StackError], T_co] | None = None

    def fail(self, error: Mem0StackError) -> T_co:
        return _fail(error, self.recover)


@dataclass(frozen=True)
class Stream(Generic[T_co]):
    """A server-streaming call. No deadline (a watch may rightly run for hours) and no
    retries: a broken stream resumes from the cursor of the last message received."""

    rpc: Rpc
    request: Message


@dataclass(frozen=True)
class Upload(Generic[T_co]):
    """A client-streaming call: a stream of requests, one response. No deadline, no
    retries (the requests are an iterator, read once)."""

    rpc: Rpc
    requests: Iterator[Message]
    result: Callable[[Any], T_co]


@dataclass(frozen=True)
class Poll(Generic[T_co]):
    """Read an operation until it is done, then make its outcome the result.

    ``timeout`` bounds the whole wait (the client's timeout when unset); each read is a
    Unary call of its own, retried as any other.
    """

    check: Unary[operation_pb2.Operation]
    result: Callable[[operation_pb2.Operation], T_co]
    interval: float
    timeout: float | None = None

    def read(self, deadline: float, now: float) -> Unary[operation_pb2.Operation]:
        """The next read, its deadline no later than the wait's."""
        return replace(self.check, timeout=max(deadline - now, 0.0))

    def pause(self, operation: operation_pb2.Operation, deadline: float, now: float) -> float:
        """Seconds to sleep before the next read; raises when the wait's deadline has come."""
        if now >= deadline:
            state = operation_pb2.Operation.State.Name(operation.state)
            raise Mem0StackError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"{operation.name} is still {state}"
            )
        return min(self.interval, deadline - now)


Call: TypeAlias = Unary[T] | Collect[T] | Upload[T] | Poll[T]
"""A plan with one result."""

Feed: TypeAlias = Pages[T] | Stream[T]
"""A plan whose result is read item by item."""


def result_type(plan_type: Any) -> Any:
    """``X`` for the annotation ``Unary[X]`` (or any plan of X)."""
    args = get_args(plan_type)
    if not args:
        return Any
    return None if args[0] is type(None) else args[0]


def made_from(builder: Callable[..., Any], returns: Callable[[Any], Any]) -> Callable[[F], F]:
    """Give a client method its builder's name, docstring and signature: ``self`` first,
    and the return annotation ``returns(X)`` for a builder that returns a plan of ``X``."""

    def decorate(method: F) -> F:
        signature = inspect.signature(builder, eval_str=True)
        own = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        method.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[own, *signature.parameters.values()],
            return_annotation=returns(result_type(signature.return_annotation)),
        )
        method.__name__ = method.__qualname__ = builder.__name__
        method.__doc__ = builder.__doc__
        return method

    return decorate
