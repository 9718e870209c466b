"""The two systems' client sides for the load generator.

Both give every client a connection of its own (as N independent application processes
would have), spread round-robin over the server processes, and send the same requests:
a top-10 search of the loaded user with a distinct query, an add of one message without
inference into a user of the client's own (so the searched user keeps its size and both
systems search the same data throughout), and the first page (50) of the loaded user's
memories.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc

LIST_PAGE = 50
TOP_K = 10


def query_text(queries: list[str], seq: int) -> str:
    return f"{queries[seq % len(queries)]} (load {seq})"


def added_text(texts: list[str], seq: int) -> str:
    return f"{texts[seq % len(texts)]} (added {seq})"


class GrpcBackend:
    """mem0-stack over gRPC (grpc.aio), one channel per client, spread over ``targets``."""

    def __init__(
        self,
        targets: list[str],
        user: str,
        queries: list[str],
        texts: list[str],
        *,
        mode: int,
        add_rpc: str,
        timeout_s: float,
    ) -> None:
        self.targets = targets
        self.user = user
        self.queries = queries
        self.texts = texts
        self.mode = mode
        self.add_rpc = add_rpc
        self.timeout_s = timeout_s
        self.channels: list[grpc.aio.Channel] = []
        self.stubs: list[memory_service_pb2_grpc.MemoryServiceStub] = []

    async def open(self, clients: int) -> None:
        # A local subchannel pool gives each channel its own connection; by default gRPC
        # shares one connection among the channels to the same address.
        options = [("grpc.use_local_subchannel_pool", 1)]
        for i in range(len(self.channels), clients):
            channel = grpc.aio.insecure_channel(
                self.targets[i % len(self.targets)], options=options
            )
            self.channels.append(channel)
            self.stubs.append(memory_service_pb2_grpc.MemoryServiceStub(channel))
        await asyncio.gather(*(c.channel_ready() for c in self.channels))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels))
        self.channels.clear()
        self.stubs.clear()

    async def call(self, client: int, op: str, seq: int) -> None:
        stub = self.stubs[client]
        if op == "search":
            await stub.SearchMemories(
                svc.SearchMemoriesRequest(
                    parent=self.user,
                    query=query_text(self.queries, seq),
                    top_k=TOP_K,
                    mode=self.mode,  # type: ignore[arg-type]
                ),
                timeout=self.timeout_s,
            )
        elif op == "add":
            writer = f"{self.user}-writer-{client}"
            content = added_text(self.texts, seq)
            if self.add_rpc == "create":
                await stub.CreateMemory(
                    svc.CreateMemoryRequest(
                        parent=writer, memory=memory_pb2.Memory(content=content)
                    ),
                    timeout=self.timeout_s,
                )
            else:
                await stub.AddMemories(
                    svc.AddMemoriesRequest(
                        parent=writer,
                        messages=[memory_pb2.Message(role="user", content=content)],
                        infer=False,
                    ),
                    timeout=self.timeout_s,
                )
        else:
            await stub.ListMemories(
                svc.ListMemoriesRequest(parent=self.user, page_size=LIST_PAGE),
                timeout=self.timeout_s,
            )

    def error_code(self, exc: BaseException) -> str:
        if isinstance(exc, grpc.aio.AioRpcError):
            return str(exc.code().name)
        return type(exc).__name__

    def error_text(self, exc: BaseException) -> str:
        if isinstance(exc, grpc.aio.AioRpcError):
            return str(exc.details())
        return repr(exc)


class HttpError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"HTTP {status} {error}")
        self.status = status
        self.error = error


class _Connection:
    """One HTTP/1.1 keep-alive connection, written by hand: an asyncio client library would
    cost the generator more CPU than gRPC's C core does, and flatter mem0-stack."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: mem0\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("mem0's server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        reply: dict[str, Any] = json.loads(await self.reader.readexactly(length))
        if status != 200:
            raise HttpError(status, str(reply.get("error", "")))
        return reply

    def close(self) -> None:
        self.writer.close()


class Mem0HttpBackend:
    """mem0 behind bench/load/mem0_server.py (HTTP/1.1 keep-alive, a thread per connection)."""

    def __init__(
        self, port: int, user: str, queries: list[str], texts: list[str], *, timeout_s: float
    ) -> None:
        self.port = port
        self.user = user
        self.queries = queries
        self.texts = texts
        self.timeout_s = timeout_s
        self.connections: list[_Connection | None] = []

    async def open(self, clients: int) -> None:
        self.connections += [None] * (clients - len(self.connections))

    async def close(self) -> None:
        for c in self.connections:
            if c is not None:
                c.close()
        self.connections.clear()

    async def _connection(self, client: int) -> _Connection:
        connection = self.connections[client]
        if connection is None:
            connection = _Connection(*await asyncio.open_connection("127.0.0.1", self.port))
            self.connections[client] = connection
        return connection

    async def call(self, client: int, op: str, seq: int) -> None:
        if op == "search":
            payload = {"query": query_text(self.queries, seq), "user": self.user, "top_k": TOP_K}
        elif op == "add":
            payload = {"text": added_text(self.texts, seq), "user": f"{self.user}-writer-{client}"}
        else:
            payload = {"user": self.user, "top_k": LIST_PAGE}
        connection = await self._connection(client)
        try:
            await asyncio.wait_for(connection.post(f"/{op}", payload), self.timeout_s)
        except HttpError:
            raise
        except BaseException:
            # A timed-out or broken exchange leaves the connection mid-reply: start afresh.
            connection.close()
            self.connections[client] = None
            raise

    def error_code(self, exc: BaseException) -> str:
        if isinstance(exc, HttpError):
            return f"HTTP_{exc.status}_{exc.error}"
        if isinstance(exc, TimeoutError):
            return "TIMEOUT"
        return type(exc).__name__

    def error_text(self, exc: BaseException) -> str:
        return repr(exc)
