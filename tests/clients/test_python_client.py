"""The Python client (``mem0stack.Client``) against a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from mem0stack import Client, ErrorReason, Mem0StackError, Memory, MemoryRevision, RetryPolicy
from mem0stack.options import is_loopback, resolve_tls
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.servers import REPO, ServerProcess, free_port


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.target) as c:
        yield c


def test_create_get_and_error_reasons(client: Client, user_id: str) -> None:
    m = client.create(user_id, "Prefers window seats", metadata={"topic": "travel"})
    assert m.name == f"users/{user_id}/memories/{m.uid}"
    assert m.state == Memory.ACTIVE
    got = client.get(m.name)
    assert got.content == "Prefers window seats"
    assert got.metadata["topic"] == "travel"

    with pytest.raises(Mem0StackError) as missing:
        client.get(f"users/{user_id}/memories/00000000-0000-0000-0000-000000000000")
    assert missing.value.reason == ErrorReason.MEMORY_NOT_FOUND
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    assert missing.value.domain == "mem0stack.dev"
    assert missing.value.metadata["name"].endswith("00000000-0000-0000-0000-000000000000")
    assert "MEMORY_NOT_FOUND" in str(missing.value)

    with pytest.raises(Mem0StackError) as empty:
        client.create(user_id, "")
    assert empty.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in empty.value.field_violations] == ["memory.content"]


def test_list_across_pages(client: Client, user_id: str) -> None:
    texts = [f"memory {n}" for n in ("one", "two", "three", "four", "five")]
    for text in texts:
        client.create(user_id, text)
    listed = [m.content for m in client.iter_memories(user_id, page_size=2)]
    assert listed == texts[::-1]

    first = client.list_memories(svc.ListMemoriesRequest(parent=f"users/{user_id}", page_size=2))
    assert len(first.memories) == 2 and first.next_page_token

    with pytest.raises(Mem0StackError) as bad:
        list(client.iter_memories(user_id, filter="colour = 1"))
    assert bad.value.reason == ErrorReason.UNKNOWN_FILTER_FIELD


def test_search_best_first(client: Client, user_id: str) -> None:
    for text in ("My favourite food is ramen", "I am allergic to peanuts", "I work in Lyon"):
        client.create(user_id, text)
    results = client.search(user_id, "what food do I like to eat?", top_k=2)
    assert results[0].memory.content == "My favourite food is ramen"
    assert len(results) == 2 and results[0].score >= results[1].score
    keyword = client.search(user_id, "peanuts", mode="keyword")
    assert [r.memory.content for r in keyword] == ["I am allergic to peanuts"]
    with pytest.raises(ValueError):
        client.search(user_id, "x", mode="fuzzy")


def test_update_with_mask_revisions_and_delete(client: Client, user_id: str) -> None:
    m = client.create(user_id, "I like window seats", metadata={"topic": "travel"})
    updated = client.update(m.name, content="I like aisle seats")
    assert updated.content == "I like aisle seats"
    assert dict(updated.metadata) == {"topic": "travel"}, "only the masked field changes"
    assert updated.etag != m.etag

    with pytest.raises(Mem0StackError) as stale:
        client.update(m.name, content="x", etag=m.etag)
    assert stale.value.reason == ErrorReason.ETAG_MISMATCH

    client.update(m.name, metadata={"topic": "planes"}, categories=["travel"])
    client.delete(m.name)
    with pytest.raises(Mem0StackError) as gone:
        client.get(m.name)
    assert gone.value.reason == ErrorReason.MEMORY_NOT_FOUND

    revisions = list(client.iter_revisions(m.name, page_size=1))
    assert [r.event for r in revisions] == [
        MemoryRevision.CREATE,
        MemoryRevision.UPDATE,
        MemoryRevision.UPDATE,
        MemoryRevision.DELETE,
    ]
    assert (revisions[1].content_before, revisions[1].content_after) == (
        "I like window seats",
        "I like aisle seats",
    )
    assert revisions[2].metadata_after["topic"] == "planes"
    # The client gave the creating call a request id of its own, so retrying it is safe.
    assert revisions[0].request_id


def test_add_conversation_and_delete_all(client: Client, user_id: str) -> None:
    response = client.add(
        user_id,
        [
            {"role": "user", "content": "I moved to Berlin last year"},
            {"role": "assistant", "content": "Nice, how do you like it?"},
        ],
        agent_id="travel",
        metadata={"source": "chat"},
    )
    assert [e.memory.content for e in response.events] == ["I moved to Berlin last year"]
    assert response.events[0].memory.agent_id == "travel"
    again = client.add(user_id, "I moved to Berlin last year", agent_id="travel")
    assert again.events[0].type == again.events[0].NOOP

    client.create(user_id, "Something else", agent_id="other")
    assert client.delete_all(user_id, filter='agent_id = "other"') == 1
    assert client.delete_all(user_id) == 1
    assert list(client.iter_memories(user_id)) == []


def test_request_id_makes_a_retried_create_idempotent(client: Client, user_id: str) -> None:
    first = client.create(user_id, "Only once", request_id="retry-1")
    second = client.create(user_id, "Only once", request_id="retry-1")
    assert first.name == second.name
    assert [m.content for m in client.iter_memories(user_id)] == ["Only once"]


def _dead_port() -> int:
    return free_port()


class _Counter(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.calls = 0

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        self.calls += 1
        return continuation(details, request)


def test_retries_unavailable_with_backoff() -> None:
    counter = _Counter()
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{_dead_port()}"), counter)
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.02)
    with Client(channel=channel, retry=policy) as dead, pytest.raises(Mem0StackError) as failed:
        dead.get("users/x/memories/y")
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE and failed.value.retryable
    assert counter.calls == 3


def test_retries_until_the_server_is_up(make_database) -> None:  # type: ignore[no-untyped-def]
    late = ServerProcess(database_url=make_database("late"), port=free_port())
    starter = threading.Timer(0.5, late.start)
    starter.start()
    try:
        policy = RetryPolicy(max_attempts=100, initial_backoff=0.2, max_backoff=0.5)
        with Client(late.target, retry=policy, timeout=60) as client:
            created = client.create("late-user", "Stored once the server came up")
        assert created.content == "Stored once the server came up"
    finally:
        starter.join()
        late.stop()


def test_default_deadline() -> None:
    # A listener that accepts but never speaks HTTP/2: only the deadline ends the call.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        target = f"127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with Client(target, timeout=0.3) as silent, pytest.raises(Mem0StackError) as failed:
            silent.get("users/x/memories/y")
    assert failed.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 5


def test_tls_defaults() -> None:
    assert is_loopback("localhost:50051") and is_loopback("127.0.0.1:1")
    assert is_loopback("[::1]:50051") and not is_loopback("memory.example.com:443")
    assert resolve_tls("localhost:50051", None) is None
    assert resolve_tls("memory.example.com:443", None) is not None
    assert resolve_tls("memory.example.com:443", False) is None


def _create_key(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "keys", "create", *args],
        env={**os.environ, "MEM0STACK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return result.stdout.strip().splitlines()[-1]


def test_api_key_is_sent(make_database) -> None:  # type: ignore[no-untyped-def]
    database_url = make_database("clientkeys")
    key = _create_key(database_url, "--user", "carol")
    secured = ServerProcess(database_url=database_url, port=free_port())
    secured.start()
    try:
        with Client(secured.target, api_key=key) as carol:
            assert carol.create("carol", "Keyed memory").content == "Keyed memory"
            with pytest.raises(Mem0StackError) as other_user:
                carol.get("users/dave/memories/00000000-0000-0000-0000-000000000000")
            assert other_user.value.reason == ErrorReason.MEMORY_NOT_FOUND
        with Client(secured.target) as anonymous, pytest.raises(Mem0StackError) as missing:
            anonymous.create("carol", "No key")
        assert missing.value.reason == ErrorReason.API_KEY_MISSING
    finally:
        secured.stop()


def test_example_runs(server: ServerProcess) -> None:
    example = REPO / "clients" / "python" / "examples" / "quickstart.py"
    done = subprocess.run(
        [sys.executable, str(example)],
        env={**os.environ, "MEM0STACK_TARGET": server.target},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "after delete: MEMORY_NOT_FOUND" in done.stdout
    assert "deleted the remaining 2 memories" in done.stdout
