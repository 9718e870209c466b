"""The synchronous client: runs the plans of ``_requests.py`` with grpc, blocking."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

import grpc

from mem0stack import _requests as build
from mem0stack._connection import Closing, Connection
from mem0stack._plans import (
    Call,
    Collect,
    Feed,
    Pages,
    Poll,
    Rpc,
    Stream,
    Unary,
    Upload,
    made_from,
)
from mem0stack.errors import Mem0StackError
from mem0stack.options import (
    Attempts,
    TLSConfig,
    channel_options,
)

__all__ = ["Client"]

T = TypeVar("T")
P = ParamSpec("P")


def call(builder: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    """A method of :class:`Client` that runs the plan ``builder`` makes."""

    @made_from(builder, lambda result: result)
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(builder(*args, **kwargs))

    return method


def iterate(builder: Callable[P, Feed[T]]) -> Callable[Concatenate[Client, P], Iterator[T]]:
    """A method of :class:`Client` that iterates over what the plan ``builder`` makes yields."""

    @made_from(builder, lambda item: Iterator[item])  # type: ignore[valid-type]
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._iterate(builder(*args, **kwargs))

    return method


class Client(Connection[grpc.Channel], Closing):
    """A connection to a mem0-stack server.

    ``target`` is ``host:port``; ``api_key`` is sent as ``authorization: Bearer <key>``
    (leave it out for a server in development mode). ``tls`` is ``True``/``False``, a
    :class:`TLSConfig`, or unset for plaintext to loopback addresses and TLS elsewhere.
    ``timeout`` bounds every call (all attempts of it) unless the call passes its own;
    ``retry`` says how UNAVAILABLE is retried.

    Each RPC of ``mem0stack.v1``'s MemoryService and GraphService is a method taking the
    generated request (``create_memory``, ``list_entities``, ...); on top of them ``create``,
    ``add``, ``search``, ``iter_memories``, ``update``, ``delete``, ... build the requests
    for you. Every failure raises :class:`~mem0stack.errors.Mem0StackError`.
    """

    def _open(self, target: str, tls: TLSConfig | None) -> grpc.Channel:
        options = channel_options(tls)
        if tls is None:
            return grpc.insecure_channel(target, options=options)
        return grpc.secure_channel(target, tls.credentials(), options=options)

    def close(self) -> None:
        """Close the channel (unless it was passed in)."""
        if self._owns_channel:
            self.channel.close()

    # The RPCs, one method each, taking the generated request: MemoryService ...
    create_memory = call(build.create_memory)
    batch_create_memories = call(build.batch_create_memories)
    add_memories = call(build.add_memories)
    get_memory = call(build.get_memory)
    list_memories = call(build.list_memories)
    search_memories = call(build.search_memories)
    watch_memories = iterate(build.watch_memories)
    export_memories = iterate(build.export_memories)
    import_memories = call(build.import_memories)
    update_memory = call(build.update_memory)
    delete_memory = call(build.delete_memory)
    batch_delete_memories = call(build.batch_delete_memories)
    list_memory_revisions = call(build.list_memory_revisions)
    get_operation = call(build.get_operation)
    # ... and GraphService.
    list_entities = call(build.list_entities)
    get_entity = call(build.get_entity)
    delete_entity = call(build.delete_entity)
    list_relations = call(build.list_relations)
    get_graph_status = call(build.get_graph_status)
    # ... and WebhookService.
    create_webhook = call(build.create_webhook)
    get_webhook = call(build.get_webhook)
    list_webhooks = call(build.list_webhooks)
    update_webhook = call(build.update_webhook)
    delete_webhook = call(build.delete_webhook)
    list_webhook_deliveries = call(build.list_webhook_deliveries)
    # ... and AdminService (admin keys only).
    create_api_key = call(build.create_api_key)
    get_api_key = call(build.get_api_key)
    list_api_keys = call(build.list_api_keys)
    revoke_api_key = call(build.revoke_api_key)
    list_users = call(build.list_users)
    get_user_usage = call(build.get_user_usage)
    erase_user = call(build.erase_user)
    get_server_status = call(build.get_server_status)

    # Helpers that build the requests.
    create = call(build.create)
    add = call(build.add)
    search = call(build.search)
    get = call(build.get)
    iter_memories = iterate(build.iter_memories)
    update = call(build.update)
    delete = call(build.delete)
    delete_all = call(build.delete_all)
    iter_revisions = iterate(build.iter_revisions)
    wait_operation = call(build.wait_operation)
    iter_entities = iterate(build.iter_entities)
    iter_relations = iterate(build.iter_relations)
    entity = call(build.entity)
    graph_status = call(build.graph_status)
    watch = iterate(build.watch)
    export = iterate(build.export)
    import_ = call(build.import_)
    new_api_key = call(build.new_api_key)
    iter_api_keys = iterate(build.iter_api_keys)
    revoke_key = call(build.revoke_key)
    iter_users = iterate(build.iter_users)
    usage = call(build.usage)
    erase = call(build.erase)
    server_status = call(build.server_status)

    # Running plans

    def _run(self, plan: Call[T]) -> T:
        if isinstance(plan, Poll):
            deadline = time.monotonic() + (self.timeout if plan.timeout is None else plan.timeout)
            while True:
                operation = self._run(plan.read(deadline, time.monotonic()))
                if operation.done:
                    return plan.result(operation)
                time.sleep(plan.pause(operation, deadline, time.monotonic()))
        if isinstance(plan, Upload):
            try:
                response = self._method(plan.rpc)(plan.requests, metadata=self._metadata)
            except grpc.RpcError as exc:
                raise Mem0StackError.from_rpc_error(exc) from exc
            return plan.result(response)
        try:
            if isinstance(plan, Unary):
                response = self._unary(plan.rpc, plan.request, plan.timeout)
            else:
                response = self._collect(plan)
        except Mem0StackError as error:
            return plan.fail(error)
        return plan.result(response)

    def _iterate(self, plan: Feed[T]) -> Iterator[T]:
        return self._pages(plan) if isinstance(plan, Pages) else self._stream(plan)

    def _collect(self, plan: Collect[Any]) -> list[Any]:
        items: list[Any] = []
        for item in self._pages(plan.pages):
            items.append(item)
            if len(items) == plan.limit:
                break
        return items

    def _pages(self, plan: Pages[T]) -> Iterator[T]:
        while True:
            page = self._unary(plan.rpc, plan.request, plan.timeout)
            yield from plan.items(page)
            if not plan.advance(page):
                return

    def _stream(self, plan: Stream[T]) -> Iterator[T]:
        call = self._method(plan.rpc)(plan.request, metadata=self._metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            raise Mem0StackError.from_rpc_error(exc) from exc
        finally:
            call.cancel()

    def _unary(self, rpc: Rpc, request: Any, timeout: float | None) -> Any:
        """One call with the client's deadline, credentials and retries."""
        method = self._method(rpc)
        attempts = Attempts(self.retry, self.timeout if timeout is None else timeout)
        while True:
            try:
                return method(request, timeout=attempts.remaining(), metadata=self._metadata)
            except grpc.RpcError as exc:
                time.sleep(attempts.retry_after(exc))
