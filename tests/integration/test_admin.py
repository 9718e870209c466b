"""The AdminService: API keys, users and their usage, erasing a user, server status.

Against a real server that requires keys (MEM0STACK_AUTH=keys), with an admin key made by
the CLI as an operator would, and the scripted LLM so that token usage is real.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from mem0stack.v1 import (
    admin_pb2,
    admin_service_pb2_grpc,
    errors_pb2,
    memory_pb2,
    memory_service_pb2_grpc,
)
from mem0stack.v1 import admin_service_pb2 as admin
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, facts
from tests.support.keys import create_key
from tests.support.servers import ServerProcess, free_port

USER = admin_pb2.ApiKey.USER
ADMIN = admin_pb2.ApiKey.ADMIN


@pytest.fixture(scope="module")
def admin_server(make_database, fake_llm: FakeLLM) -> Iterator[tuple[ServerProcess, str]]:  # type: ignore[no-untyped-def]
    dsn = make_database("admin_service")
    root = create_key(dsn, "--admin", "--label", "root")
    proc = ServerProcess(
        dsn,
        free_port(),
        env={
            "MEM0STACK_AUTH": "keys",
            "MEM0STACK_AUTH_CACHE_S": "0.5",
            "MEM0STACK_LLM_MODEL": "fake-model",
            "OPENAI_BASE_URL": fake_llm.base_url,
            "OPENAI_API_KEY": "test",
            "MEM0STACK_LLM_MAX_RETRIES": "0",
        },
    )
    proc.start()
    yield proc, root
    proc.stop()


@pytest.fixture
async def stubs(
    admin_server: tuple[ServerProcess, str],
) -> AsyncIterator[tuple[Any, Any]]:
    proc, root = admin_server
    async with proc.channel(root) as channel:
        yield (
            admin_service_pb2_grpc.AdminServiceStub(channel),
            memory_service_pb2_grpc.MemoryServiceStub(channel),
        )


async def _create(stub: Any, role: int, *users: str, label: str = "") -> tuple[str, str]:
    made = await stub.CreateApiKey(
        admin.CreateApiKeyRequest(api_key=admin_pb2.ApiKey(role=role, users=users, label=label))
    )
    return made.key, made.api_key.name


async def test_create_get_list_and_revoke_a_key(
    stubs: tuple[Any, Any], admin_server: tuple[ServerProcess, str]
) -> None:
    stub, _ = stubs
    proc, _ = admin_server
    user = f"u-{uuid.uuid4().hex[:8]}"
    key, name = await _create(stub, USER, user, label="support bot")
    assert key.startswith("m0s_") and name == f"apiKeys/{key.split('_')[1]}"

    got = await stub.GetApiKey(admin.GetApiKeyRequest(name=name))
    assert (got.role, list(got.users), got.label) == (USER, [user], "support bot")
    assert not got.HasField("revoke_time") and not got.HasField("last_use_time")

    # The new key works for its user, and its use is noted.
    async with proc.channel(key) as channel:
        memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
        await memories.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user}"))
    used = await stub.GetApiKey(admin.GetApiKeyRequest(name=name))
    assert used.HasField("last_use_time")

    revoked = await stub.RevokeApiKey(admin.RevokeApiKeyRequest(name=name))
    assert revoked.HasField("revoke_time")
    await asyncio.sleep(0.7)  # the server's verification cache (MEM0STACK_AUTH_CACHE_S)
    async with proc.channel(key) as channel:
        memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await memories.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user}"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.RevokeApiKey(admin.RevokeApiKeyRequest(name=name))
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(again.value).reason == "API_KEY_REVOKED"

    listed = await stub.ListApiKeys(admin.ListApiKeysRequest(page_size=1000))
    assert name not in [k.name for k in listed.api_keys]
    everything = await stub.ListApiKeys(admin.ListApiKeysRequest(show_revoked=True))
    assert name in [k.name for k in everything.api_keys]


async def test_keys_page_in_creation_order(stubs: tuple[Any, Any]) -> None:
    stub, _ = stubs
    made = [(await _create(stub, ADMIN, label=f"page-{i}"))[1] for i in range(3)]
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListApiKeys(
            admin.ListApiKeysRequest(page_size=2, page_token=token, show_revoked=True)
        )
        assert len(page.api_keys) <= 2
        seen += [k.name for k in page.api_keys]
        token = page.next_page_token
        if not token:
            break
    assert [n for n in seen if n in made] == made
    assert len(seen) == len(set(seen))

    with pytest.raises(grpc.aio.AioRpcError) as replayed:
        await stub.ListApiKeys(admin.ListApiKeysRequest(page_size=2, page_token=token + "x"))
    assert replayed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("api_key", "field", "reason"),
    [
        (admin_pb2.ApiKey(), "api_key.role", "INVALID_ARGUMENT"),
        (admin_pb2.ApiKey(role=ADMIN, users=["alice"]), "api_key.users", "INVALID_ARGUMENT"),
        (admin_pb2.ApiKey(role=USER), "api_key.users", "INVALID_ARGUMENT"),
        (admin_pb2.ApiKey(role=USER, users=["a/b"]), "api_key.users[0]", "INVALID_NAME"),
        (admin_pb2.ApiKey(role=USER, users=["a"], label="x" * 201), "api_key.label", None),
    ],
)
async def test_bad_keys_are_invalid_argument(
    stubs: tuple[Any, Any], api_key: admin_pb2.ApiKey, field: str, reason: str | None
) -> None:
    stub, _ = stubs
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.CreateApiKey(admin.CreateApiKeyRequest(api_key=api_key))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = details_of(error.value)
    assert field in details.fields
    if reason:
        assert details.reason == reason


@pytest.mark.parametrize("name", ["apiKeys/nope00000000", "keys/abc", "apiKeys/a/b", ""])
async def test_unknown_or_malformed_key_names(stubs: tuple[Any, Any], name: str) -> None:
    stub, _ = stubs
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.GetApiKey(admin.GetApiKeyRequest(name=name))
    expected = grpc.StatusCode.NOT_FOUND if name.startswith("apiKeys/n") else None
    assert error.value.code() == (expected or grpc.StatusCode.INVALID_ARGUMENT)


async def test_a_user_key_is_denied_every_admin_method(
    stubs: tuple[Any, Any], admin_server: tuple[ServerProcess, str]
) -> None:
    stub, _ = stubs
    proc, _ = admin_server
    key, _ = await _create(stub, USER, "alice")
    service = admin.DESCRIPTOR.services_by_name["AdminService"]
    async with proc.channel(key) as channel:
        as_user = admin_service_pb2_grpc.AdminServiceStub(channel)
        for method in service.methods:
            request = getattr(admin, method.input_type.name)()
            if method.name == "EraseUser":
                request.name = "users/alice"  # even the key's own user
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await getattr(as_user, method.name)(request)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, method.name
            assert details_of(denied.value).reason == "PERMISSION_DENIED"


async def _add(memories: Any, user: str, text: str) -> None:
    await memories.CreateMemory(
        svc.CreateMemoryRequest(parent=f"users/{user}", memory=memory_pb2.Memory(content=text))
    )


async def test_users_are_listed_with_counts_and_paged(stubs: tuple[Any, Any]) -> None:
    stub, memories = stubs
    prefix = f"list-{uuid.uuid4().hex[:6]}-"
    for i, count in enumerate([1, 2, 3]):
        for n in range(count):
            await _add(memories, f"{prefix}{i}", f"fact {n} of user {i}")
    await memories.SearchMemories(svc.SearchMemoriesRequest(parent=f"users/{prefix}0", query="x"))
    await asyncio.sleep(0.8)  # the access log is written every half second

    first = await stub.ListUsers(admin.ListUsersRequest(prefix=prefix, page_size=2))
    second = await stub.ListUsers(
        admin.ListUsersRequest(prefix=prefix, page_size=2, page_token=first.next_page_token)
    )
    users = [*first.users, *second.users]
    assert [u.name for u in users] == [f"users/{prefix}{i}" for i in range(3)]
    assert [u.active_memories for u in users] == [1, 2, 3]
    assert all(u.HasField("last_change_time") for u in users)
    assert users[0].HasField("last_access_time")  # it was searched
    assert not second.next_page_token

    with pytest.raises(grpc.aio.AioRpcError) as other_query:
        await stub.ListUsers(admin.ListUsersRequest(page_token=first.next_page_token))
    assert details_of(other_query.value).reason == "INVALID_PAGE_TOKEN"


async def test_usage_counts_searches_memories_and_llm_tokens(
    stubs: tuple[Any, Any], fake_llm: FakeLLM
) -> None:
    stub, memories = stubs
    user = f"usage-{uuid.uuid4().hex[:8]}"
    fake_llm.reset()
    fake_llm.script(facts("Likes green tea", prompt_tokens=120, completion_tokens=30))
    await memories.AddMemories(
        svc.AddMemoriesRequest(
            parent=f"users/{user}",
            messages=[memory_pb2.Message(role="user", content="I like green tea")],
        )
    )
    for query in ("tea", "drinks"):
        await memories.SearchMemories(
            svc.SearchMemoriesRequest(parent=f"users/{user}", query=query)
        )

    today = datetime.now(UTC).date()
    for _ in range(50):  # figures are written every two seconds
        usage = await stub.GetUserUsage(admin.GetUserUsageRequest(name=f"users/{user}/usage"))
        if usage.days[-1].searches == 2:
            break
        await asyncio.sleep(0.2)
    assert len(usage.days) == 30
    last = usage.days[-1]
    assert last.start_time.ToDatetime(UTC).date() == today
    assert (last.searches, last.memories_created) == (2, 1)
    assert last.llm_calls >= 1 and last.llm_prompt_tokens >= 120
    assert last.llm_completion_tokens >= 30
    assert all(d.searches == 0 for d in usage.days[:-1])

    week = await stub.GetUserUsage(admin.GetUserUsageRequest(name=f"users/{user}/usage", days=7))
    assert len(week.days) == 7
    for bad in (
        admin.GetUserUsageRequest(name=f"users/{user}", days=7),
        admin.GetUserUsageRequest(name=f"users/{user}/usage", days=-1),
        admin.GetUserUsageRequest(name=f"users/{user}/usage", days=400),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.GetUserUsage(bad)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_erase_user_removes_their_memories_and_usage(stubs: tuple[Any, Any]) -> None:
    stub, memories = stubs
    user, other = f"erase-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    for who in (user, other):
        await _add(memories, who, f"{who} plays chess")
        await memories.SearchMemories(svc.SearchMemoriesRequest(parent=f"users/{who}", query="c"))
    await asyncio.sleep(2.5)  # the usage figures are written

    erased = await stub.EraseUser(admin.EraseUserRequest(name=f"users/{user}"))
    assert erased.memories == 1 and erased.rows["usage_daily"] == 1

    listed = await memories.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user}"))
    assert list(listed.memories) == []
    kept = await memories.ListMemories(svc.ListMemoriesRequest(parent=f"users/{other}"))
    assert len(kept.memories) == 1
    usage = await stub.GetUserUsage(admin.GetUserUsageRequest(name=f"users/{user}/usage", days=1))
    assert usage.days[0].searches == 0 and usage.days[0].memories_created == 0

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.EraseUser(admin.EraseUserRequest(name="alice"))
    assert details_of(error.value).reason == "INVALID_NAME"


async def test_server_status(stubs: tuple[Any, Any]) -> None:
    stub, memories = stubs
    await _add(memories, f"status-{uuid.uuid4().hex[:8]}", "the sky is blue")
    status = await stub.GetServerStatus(admin.GetServerStatusRequest())
    assert status.version and status.embedder_model and status.embedding_dimension > 0
    assert status.llm_configured and status.llm_model == "fake-model"
    assert not status.graph_enabled and status.graph_pending_jobs == 0
    assert status.database_bytes > 1_000_000
    assert not status.development_mode
    assert status.start_time.ToDatetime(UTC) <= datetime.now(UTC)


def test_the_python_client_helpers(admin_server: tuple[ServerProcess, str]) -> None:
    """The SDK's helpers over AdminService, as docs/clients.md shows them."""
    from mem0stack import Client, Mem0StackError

    proc, root = admin_server
    user = f"sdk-{uuid.uuid4().hex[:8]}"
    with Client(proc.target, root) as client:
        made = client.new_api_key(users=[user], label="support bot")
        assert made.key.startswith("m0s_") and list(made.api_key.users) == [user]
        assert made.api_key.name in [k.name for k in client.iter_api_keys(page_size=1)]
        client.revoke_key(made.api_key.name.removeprefix("apiKeys/"))
        assert made.api_key.name not in [k.name for k in client.iter_api_keys()]
        assert made.api_key.name in [k.name for k in client.iter_api_keys(show_revoked=True)]
        with pytest.raises(Mem0StackError) as again:
            client.revoke_key(made.api_key.name)
        assert again.value.reason == errors_pb2.API_KEY_REVOKED

        client.create(user, "Collects stamps")
        assert [u.active_memories for u in client.iter_users(prefix=user)] == [1]
        assert client.usage(user, days=2).days[-1].memories_created == 1
        assert client.server_status().active_memories >= 1
        assert client.erase(user).memories == 1
        assert list(client.iter_users(prefix=user)) == []


async def test_the_async_client_helpers(admin_server: tuple[ServerProcess, str]) -> None:
    from mem0stack import AsyncClient

    proc, root = admin_server
    async with AsyncClient(proc.target, root) as client:
        made = await client.new_api_key(admin=True, label="async")
        assert made.api_key.role == ADMIN
        names = [k.name async for k in client.iter_api_keys()]
        assert made.api_key.name in names
        status = await client.server_status()
        assert status.embedder_model
