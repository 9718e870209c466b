"""The Python clients' GraphService and GetOperation methods, and the raw stream methods.

The test server has no Neo4j, so every GraphService call must reach it and come back as
FAILED_PRECONDITION with the reason GRAPH_DISABLED, raised as a typed Mem0StackError.
Operations are real: AddMemories with ``async_mode`` queues one, GetOperation reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from mem0stack import AsyncClient, Client, ErrorReason, Mem0StackError, Operation
from mem0stack._requests import operation_result
from mem0stack.v1 import graph_service_pb2 as gsvc
from mem0stack.v1 import operation_pb2, streams_pb2
from tests.support.servers import ServerProcess

ENTITY = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.target) as c:
        yield c


def test_add_in_async_mode_then_read_and_wait_for_the_operation(
    client: Client, user_id: str
) -> None:
    accepted = client.add(user_id, "I take my tea without sugar", async_mode=True, infer=False)
    assert accepted.operation.startswith(f"users/{user_id}/operations/")
    assert list(accepted.events) == []

    read = client.get_operation(operation_pb2.GetOperationRequest(name=accepted.operation))
    assert read.name == accepted.operation
    assert read.state in (Operation.PENDING, Operation.RUNNING, Operation.SUCCEEDED)

    response = client.wait_operation(accepted.operation, poll_interval=0.05)
    assert [e.memory.content for e in response.events] == ["I take my tea without sugar"]
    assert [m.content for m in client.iter_memories(user_id)] == ["I take my tea without sugar"]

    done = client.get_operation(operation_pb2.GetOperationRequest(name=accepted.operation))
    assert (done.state, done.done, done.attempts) == (Operation.SUCCEEDED, True, 1)
    assert done.end_time.seconds > 0


def test_an_unknown_operation_is_not_found(client: Client, user_id: str) -> None:
    name = f"users/{user_id}/operations/00000000-0000-0000-0000-000000000000"
    with pytest.raises(Mem0StackError) as missing:
        client.get_operation(operation_pb2.GetOperationRequest(name=name))
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    assert missing.value.reason == ErrorReason.OPERATION_NOT_FOUND
    with pytest.raises(Mem0StackError) as waited:
        client.wait_operation(name)
    assert waited.value.reason == ErrorReason.OPERATION_NOT_FOUND


def test_a_failed_operation_raises_its_error() -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="LLM_OUTPUT_INVALID", domain="mem0stack.dev"))
    failed = operation_pb2.Operation(
        name="users/u/operations/o",
        state=Operation.FAILED,
        done=True,
        error=status_pb2.Status(code=13, message="the LLM said nonsense", details=[info]),
    )
    with pytest.raises(Mem0StackError) as raised:
        operation_result(failed)
    assert raised.value.code == grpc.StatusCode.INTERNAL
    assert raised.value.reason == ErrorReason.LLM_OUTPUT_INVALID
    assert raised.value.message == "the LLM said nonsense"


def _graph_calls(user: str) -> dict[str, Callable[[Client], Any]]:
    parent, entity = f"users/{user}", f"users/{user}/entities/{ENTITY}"
    return {
        "list_entities": lambda c: c.list_entities(gsvc.ListEntitiesRequest(parent=parent)),
        "get_entity": lambda c: c.get_entity(gsvc.GetEntityRequest(name=entity)),
        "delete_entity": lambda c: c.delete_entity(gsvc.DeleteEntityRequest(name=entity)),
        "list_relations": lambda c: c.list_relations(gsvc.ListRelationsRequest(parent=parent)),
        "get_graph_status": lambda c: c.get_graph_status(
            gsvc.GetGraphStatusRequest(name=f"{parent}/graphStatus")
        ),
        "iter_entities": lambda c: list(c.iter_entities(user, filter='entity_type = "person"')),
        "iter_relations": lambda c: list(c.iter_relations(user, show_invalid=True)),
        "entity": lambda c: c.entity(entity, hops=2),
        "graph_status": lambda c: c.graph_status(user),
    }


@pytest.mark.parametrize("call", sorted(_graph_calls("x")))
def test_graph_calls_reach_the_server(client: Client, user_id: str, call: str) -> None:
    with pytest.raises(Mem0StackError) as disabled:
        _graph_calls(user_id)[call](client)
    assert disabled.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert disabled.value.reason == ErrorReason.GRAPH_DISABLED


def test_the_raw_stream_methods(client: Client, user_id: str) -> None:
    client.create(user_id, "streamed as it is")
    exported = list(
        client.export_memories(streams_pb2.ExportMemoriesRequest(parent=f"users/{user_id}"))
    )
    assert [m.memory.content for m in exported] == ["streamed as it is"]

    copy = f"users/{user_id}-raw-copy"
    requests = [
        streams_pb2.ImportMemoriesRequest(
            parent=copy, memory=exported[0].memory, source_id=exported[0].memory.uid
        )
    ]
    summary = client.import_memories(requests)
    assert (summary.imported, summary.skipped) == (1, 0)

    watch = streams_pb2.WatchMemoriesRequest(parent=f"users/{user_id}", cursor="nonsense")
    with pytest.raises(Mem0StackError) as bad:
        next(client.watch_memories(watch))
    assert bad.value.reason == ErrorReason.INVALID_CURSOR


async def test_async_operations_and_graph(server: ServerProcess, user_id: str) -> None:
    async with AsyncClient(server.target) as client:
        accepted = await client.add(user_id, "I cycle in the rain", async_mode=True, infer=False)
        response = await client.wait_operation(accepted.operation, poll_interval=0.05)
        assert [e.memory.content for e in response.events] == ["I cycle in the rain"]
        read = await client.get_operation(
            operation_pb2.GetOperationRequest(name=accepted.operation)
        )
        assert read.state == Operation.SUCCEEDED

        with pytest.raises(Mem0StackError) as disabled:
            await client.graph_status(user_id)
        assert disabled.value.reason == ErrorReason.GRAPH_DISABLED
        with pytest.raises(Mem0StackError) as listed:
            [e async for e in client.iter_entities(user_id)]
        assert listed.value.reason == ErrorReason.GRAPH_DISABLED
        with pytest.raises(Mem0StackError) as deleted:
            await client.delete_entity(
                gsvc.DeleteEntityRequest(name=f"users/{user_id}/entities/{ENTITY}")
            )
        assert deleted.value.code == grpc.StatusCode.FAILED_PRECONDITION

        exported = [
            m
            async for m in client.export_memories(
                streams_pb2.ExportMemoriesRequest(parent=f"users/{user_id}")
            )
        ]
        assert [m.memory.content for m in exported] == ["I cycle in the rain"]
