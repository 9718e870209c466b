"""Python client for mem0-stack, the self-hosted long-term memory server.

``Client`` (blocking) and ``AsyncClient`` (asyncio) wrap the generated gRPC stubs in
``mem0stack.v1`` (every RPC of MemoryService and GraphService) with default deadlines,
retries of UNAVAILABLE, API-key credentials and typed errors. ``mem0stack.compat`` offers
mem0's ``Memory`` interface on top of them.

    from mem0stack import Client

    with Client("localhost:50051") as client:
        client.create("alice", "Prefers window seats")
        for result in client.search("alice", "where does alice like to sit?"):
            print(result.score, result.memory.content)
"""

from mem0stack.aio import AsyncClient
from mem0stack.client import Client
from mem0stack.errors import DOMAIN, ErrorReason, FieldViolation, Mem0StackError
from mem0stack.options import DEFAULT_TARGET, DEFAULT_TIMEOUT, RetryPolicy, TLSConfig
from mem0stack.v1.graph_pb2 import Entity, GraphStatus, Relation
from mem0stack.v1.memory_pb2 import (
    Memory,
    MemoryEvent,
    MemoryRevision,
    Message,
    SearchResult,
    TokenUsage,
)
from mem0stack.v1.operation_pb2 import Operation

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TIMEOUT",
    "DOMAIN",
    "AsyncClient",
    "Client",
    "Entity",
    "ErrorReason",
    "FieldViolation",
    "GraphStatus",
    "Mem0StackError",
    "Memory",
    "MemoryEvent",
    "MemoryRevision",
    "Message",
    "Operation",
    "Relation",
    "RetryPolicy",
    "SearchResult",
    "TLSConfig",
    "TokenUsage",
]
