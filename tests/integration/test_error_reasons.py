"""Error reasons no other test produced, each from the situation that causes it.

- EMBEDDER_UNAVAILABLE: the openai embedder's endpoint answers 500 behind a running server.
- CONCURRENT_CHANGE: the memories AddMemories reconciles with change under it, twice.
- UNKNOWN_FILTER_FIELD on BatchDeleteMemories and WatchMemories (a stream: the error comes
  before any message).

(DATABASE_UNAVAILABLE is produced by test_db_restart.py.)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import field_mask_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, Recorded, Reply, facts
from tests.support.servers import ServerProcess, free_port

DIM = 384


class EmbeddingEndpoint:
    """An OpenAI-compatible ``POST /v1/embeddings`` that works until ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = False
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                endpoint.requests += 1
                if endpoint.failing:
                    self._send(500, {"error": {"message": "embedding backend down"}})
                    return
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": _vector(text)}
                    for i, text in enumerate(texts)
                ]
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model", "fake"),
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    },
                )

            def _send(self, status: int, payload: Any) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _vector(text: str) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return [float(x) for x in np.random.default_rng(seed).normal(size=DIM)]


@pytest.fixture(scope="module")
def embedder_server(make_database) -> Iterator[tuple[ServerProcess, EmbeddingEndpoint]]:  # type: ignore[no-untyped-def]
    endpoint = EmbeddingEndpoint()
    server = ServerProcess(
        database_url=make_database("embedder"),
        port=free_port(),
        env={
            "MEM0STACK_EMBEDDER": "openai",
            "MEM0STACK_EMBEDDING_MODEL": "fake-embedder",
            "MEM0STACK_EMBEDDING_BASE_URL": f"http://127.0.0.1:{endpoint.port}/v1",
            "MEM0STACK_EMBEDDING_API_KEY": "sk-test",
            "MEM0STACK_EMBEDDING_DIMENSIONS": str(DIM),
            "MEM0STACK_EMBEDDING_TIMEOUT_S": "2",
        },
    )
    server.start()
    yield server, endpoint
    server.stop()
    endpoint.stop()


async def test_a_failing_embedder_is_embedder_unavailable(embedder_server, user_id: str) -> None:  # type: ignore[no-untyped-def]
    server, endpoint = embedder_server
    parent = f"users/{user_id}"
    async with server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        await stub.CreateMemory(
            svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content="likes tea"))
        )
        endpoint.failing = True
        try:
            calls = {
                "CreateMemory": stub.CreateMemory(
                    svc.CreateMemoryRequest(
                        parent=parent, memory=memory_pb2.Memory(content="likes coffee")
                    )
                ),
                "SearchMemories": stub.SearchMemories(
                    svc.SearchMemoriesRequest(parent=parent, query="what drinks?")
                ),
            }
            for name, call in calls.items():
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                error = details_of(caught.value)
                assert (error.code, error.reason, error.retry) == (
                    grpc.StatusCode.UNAVAILABLE,
                    "EMBEDDER_UNAVAILABLE",
                    True,
                ), (name, caught.value.details())
            # What needs no embedding still works, and nothing half-made was stored.
            listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
            assert [m.content for m in listed.memories] == ["likes tea"]
        finally:
            endpoint.failing = False
        # The endpoint is back: so is the server, without a restart.
        await stub.CreateMemory(
            svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content="likes coffee"))
        )


# CONCURRENT_CHANGE


@pytest.fixture(scope="module")
def llm_server(make_database, fake_llm: FakeLLM) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("conflict"),
        port=free_port(),
        env={
            **fake_llm.server_env(),
        },
    )
    process.start()
    yield process
    process.stop()


async def test_memories_changing_under_every_reconciliation_is_concurrent_change(
    llm_server: ServerProcess, fake_llm: FakeLLM, user_id: str
) -> None:
    parent = f"users/{user_id}"
    async with llm_server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        paris = await stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent=parent, memory=memory_pb2.Memory(content="Lives in Paris")
            )
        )
        edits = iter(range(1, 100))

        def respond(request: Recorded) -> Reply:
            if request.schema_name == "extract_facts":
                return facts("Lives in Berlin")
            # While the LLM "thinks", someone else edits the memory it is deciding about.
            (shown,) = request.payload()["memories"]
            with grpc.insecure_channel(llm_server.target) as sync:
                memory_service_pb2_grpc.MemoryServiceStub(sync).UpdateMemory(
                    svc.UpdateMemoryRequest(
                        memory=memory_pb2.Memory(
                            name=paris.name, content=f"Lives in Paris (edit {next(edits)})"
                        ),
                        update_mask=field_mask_pb2.FieldMask(paths=["content"]),
                    )
                )
            decision = {
                "fact": 0,
                "event": "SUPERSEDE",
                "memory": shown["id"],
                "text": "Lives in Berlin",
            }
            return Reply(json={"decisions": [decision]})

        fake_llm.reset()
        fake_llm.responder = respond
        try:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.AddMemories(
                    svc.AddMemoriesRequest(
                        parent=parent,
                        messages=[memory_pb2.Message(role="user", content="I moved to Berlin")],
                    )
                )
        finally:
            fake_llm.responder = None
        error = details_of(caught.value)
        assert (error.code, error.reason) == (grpc.StatusCode.ABORTED, "CONCURRENT_CHANGE")
        # Decided twice (the retry after the first conflict), and nothing of it written.
        assert len(fake_llm.calls("reconcile_memories")) == 2
        listed = await stub.ListMemories(
            svc.ListMemoriesRequest(parent=parent, filter="state = ACTIVE OR state = SUPERSEDED")
        )
        assert [m.content for m in listed.memories] == ["Lives in Paris (edit 2)"]


# UNKNOWN_FILTER_FIELD


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[memory_service_pb2_grpc.MemoryServiceStub]:
    async with server.channel() as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel)


async def test_batch_delete_with_an_unknown_filter_field_is_refused(stub, user_id: str) -> None:  # type: ignore[no-untyped-def]
    parent = f"users/{user_id}"
    await stub.CreateMemory(
        svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content="kept"))
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.BatchDeleteMemories(
            svc.BatchDeleteMemoriesRequest(parent=parent, filter='colour = "red"', confirm=True)
        )
    error = details_of(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_FILTER_FIELD")
    assert "colour" in caught.value.details()
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
    assert [m.content for m in listed.memories] == ["kept"]


async def test_watch_with_an_unknown_filter_field_is_refused(stub, user_id: str) -> None:  # type: ignore[no-untyped-def]
    stream = stub.WatchMemories(
        streams_pb2.WatchMemoriesRequest(parent=f"users/{user_id}", filter="colour = 1")
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stream:
            pytest.fail("a watch with an unknown filter field sent a message")
    error = details_of(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_FILTER_FIELD")
    assert "colour" in caught.value.details()
