"""Every RPC of every service in ``mem0stack.v1`` is a method of Client and AsyncClient.

The services are read from the generated descriptors (every ``mem0stack.v1.*_pb2`` module),
so an RPC added to the proto fails here until both clients have a method for it. The rule:
an RPC's method is its name in snake_case (``GetOperation`` -> ``get_operation``) and takes
the generated request (a unary or server-streaming RPC: ``request``; a client-streaming one:
``requests``, an iterable of them). RENAMED lists deliberate exceptions to the name rule;
there are none today.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, get_args, get_origin

import pytest
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import mem0stack.v1
from mem0stack import AsyncClient, Client

RENAMED: dict[str, str] = {}
"""Full RPC name (``mem0stack.v1.Service.Method``) -> the clients' method name."""


def services() -> list[ServiceDescriptor]:
    found = []
    for module in pkgutil.iter_modules(mem0stack.v1.__path__):
        if module.name.endswith("_pb2"):
            generated = importlib.import_module(f"mem0stack.v1.{module.name}")
            found.extend(generated.DESCRIPTOR.services_by_name.values())
    return sorted(found, key=lambda s: s.full_name)


def method_name(rpc: MethodDescriptor) -> str:
    return RENAMED.get(rpc.full_name) or re.sub(r"(?<!^)(?=[A-Z])", "_", rpc.name).lower()


def _message_type(annotation: Any) -> str | None:
    descriptor = getattr(annotation, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", None)


def problems(client: type[Any], *, is_async: bool) -> list[str]:
    """What is missing or wrong in ``client`` for each RPC, as readable lines."""
    found = []
    for service in services():
        for rpc in service.methods:
            name = method_name(rpc)
            method = getattr(client, name, None)
            where = f"{client.__name__}.{name} for {rpc.full_name}"
            if not callable(method):
                found.append(f"{where}: missing")
                continue
            if not inspect.getdoc(method):
                found.append(f"{where}: no docstring")
            parameters = list(inspect.signature(method).parameters.values())
            if len(parameters) < 2 or parameters[0].name != "self":
                found.append(f"{where}: takes no request")
                continue
            request = parameters[1]
            annotation = request.annotation
            if rpc.client_streaming:
                ok = request.name == "requests" and get_origin(annotation) is Iterable
                annotation = get_args(annotation)[0] if ok else None
            else:
                ok = request.name == "request"
            if not ok or _message_type(annotation) != rpc.input_type.full_name:
                found.append(f"{where}: takes {request}, not {rpc.input_type.full_name}")
            if rpc.server_streaming:
                expected = AsyncIterator if is_async else Iterator
                returns = inspect.signature(method).return_annotation
                if get_origin(returns) is not expected:
                    found.append(f"{where}: returns {returns}, not an iterator of messages")
                if is_async and not inspect.isasyncgenfunction(method):
                    found.append(f"{where}: not an async generator")
            elif is_async and not inspect.iscoroutinefunction(method):
                found.append(f"{where}: not a coroutine function")
    return found


def test_the_proto_has_the_services_the_clients_know() -> None:
    # The discovery itself must work, or the checks below would pass on nothing.
    names = {s.full_name for s in services()}
    assert {"mem0stack.v1.MemoryService", "mem0stack.v1.GraphService"} <= names
    rpcs = {rpc.name for s in services() for rpc in s.methods}
    assert {"GetOperation", "ListEntities", "ImportMemories", "WatchMemories"} <= rpcs


@pytest.mark.parametrize(("client", "is_async"), [(Client, False), (AsyncClient, True)])
def test_every_rpc_has_a_method(client: type[Any], is_async: bool) -> None:
    assert problems(client, is_async=is_async) == []


def test_a_missing_method_is_found() -> None:
    partial = type("Partial", (Client,), {"get_operation": None, "list_entities": None})
    assert problems(partial, is_async=False) == [
        "Partial.list_entities for mem0stack.v1.GraphService.ListEntities: missing",
        "Partial.get_operation for mem0stack.v1.MemoryService.GetOperation: missing",
    ]
    blocking = type("Blocking", (AsyncClient,), {"get_entity": Client.get_entity})
    assert problems(blocking, is_async=True) == [
        "Blocking.get_entity for mem0stack.v1.GraphService.GetEntity: not a coroutine function"
    ]
