"""Every failure path of the API holds over TLS as it does in plaintext.

One server serving TLS and requiring API keys, with a low request rate per key: a caller's
mistakes are INVALID_ARGUMENT with an ErrorInfo, another user's data is denied on streams
too, a key over its rate gets RESOURCE_EXHAUSTED with RetryInfo, an import reports its bad
item and stores the rest, and bytes that are no message are INVALID_ARGUMENT. TLS changes
the transport only; these check that nothing in the error path depends on plaintext (status
details travel in trailers, which a TLS stack must carry as well).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from mem0stack.v1 import (
    errors_pb2,
    memory_pb2,
    memory_service_pb2_grpc,
    streams_pb2,
)
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.certs import CertificateAuthority
from tests.support.errors import details_of
from tests.support.keys import bearer, create_key
from tests.support.servers import ServerProcess, free_port

REASONS = set(errors_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
ALICE, BOB = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def tls_keys_server(
    make_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, dict[str, str], bytes]]:  # type: ignore[no-untyped-def]
    directory: Path = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority()
    issued = ca.issue(directory, "server", server=True)
    dsn = make_database("tls_failures")
    keys = {
        "alice": create_key(dsn, "--user", ALICE),
        "limited": create_key(dsn, "--user", BOB),
    }
    process = ServerProcess(
        dsn,
        free_port(),
        env={
            "MEM0STACK_TLS_CERT_FILE": str(issued.cert_file),
            "MEM0STACK_TLS_KEY_FILE": str(issued.key_file),
            "MEM0STACK_AUTH": "keys",
            "MEM0STACK_RATE_LIMIT_RPS": "20",
            "MEM0STACK_RATE_LIMIT_BURST": "20",
        },
        credentials=grpc.ssl_channel_credentials(ca.pem),
    )
    process.start()
    yield process, keys, ca.pem
    process.stop()


@pytest.fixture
async def alice(
    tls_keys_server: tuple[ServerProcess, dict[str, str], bytes],
) -> AsyncIterator[Any]:
    process, keys, _ = tls_keys_server
    async with process.channel(keys["alice"]) as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel)


def _check(error: grpc.aio.AioRpcError, code: grpc.StatusCode) -> str:
    details = details_of(error)
    assert error.code() == code, error.details()
    assert details.reason in REASONS, details.reason
    return details.reason


@pytest.mark.parametrize(
    "request_",
    [
        svc.CreateMemoryRequest(
            parent=f"users/{ALICE}", memory=memory_pb2.Memory(content="a\x00b")
        ),
        svc.SearchMemoriesRequest(parent=f"users/{ALICE}", query="tea", mode=99),  # type: ignore[arg-type]
        svc.ListMemoriesRequest(parent=f"users/{ALICE}", page_token="eyJxIjoiMCIsImsiOlsxXX0"),
        svc.ListMemoriesRequest(parent=f"users/{ALICE}", order_by="x" * 6000),
        svc.CreateMemoryRequest(
            parent=f"users/{ALICE}",
            memory=memory_pb2.Memory(content="far future", expire_time={"seconds": 253402300800}),
        ),
    ],
    ids=["nul", "enum", "forged-token", "long-order-by", "timestamp-range"],
)
async def test_bad_input_is_invalid_argument_over_tls(alice: Any, request_: Any) -> None:
    method = {
        svc.CreateMemoryRequest: alice.CreateMemory,
        svc.SearchMemoriesRequest: alice.SearchMemories,
        svc.ListMemoriesRequest: alice.ListMemories,
    }[type(request_)]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await method(request_)
    _check(error.value, grpc.StatusCode.INVALID_ARGUMENT)
    assert len(error.value.details() or "") < 2000  # never the whole input echoed


async def test_another_users_streams_are_denied_over_tls(
    alice: Any, tls_keys_server: tuple[ServerProcess, dict[str, str], bytes]
) -> None:
    key = bearer(tls_keys_server[1]["alice"])
    for call in (
        alice.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=f"users/{BOB}"), metadata=key),
        alice.ExportMemories(
            streams_pb2.ExportMemoriesRequest(parent=f"users/{BOB}"), metadata=key
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            async for _ in call:
                pass
        assert _check(error.value, grpc.StatusCode.PERMISSION_DENIED) == "PERMISSION_DENIED"


async def test_an_import_reports_its_bad_item_and_stores_the_rest_over_tls(
    alice: Any, tls_keys_server: tuple[ServerProcess, dict[str, str], bytes]
) -> None:
    parent = f"users/{ALICE}"
    items = [
        streams_pb2.ImportMemoriesRequest(
            parent=parent, memory=memory_pb2.Memory(content="Reads poetry"), source_id="tls-1"
        ),
        streams_pb2.ImportMemoriesRequest(memory=memory_pb2.Memory(content=""), source_id="tls-2"),
        streams_pb2.ImportMemoriesRequest(
            memory=memory_pb2.Memory(content="Plays the oboe"), source_id="tls-3"
        ),
    ]

    async def requests() -> AsyncIterator[streams_pb2.ImportMemoriesRequest]:
        for item in items:
            yield item

    summary = await alice.ImportMemories(requests(), metadata=bearer(tls_keys_server[1]["alice"]))
    assert (summary.imported, summary.failed) == (2, 1)
    assert [f.index for f in summary.failures] == [1]


async def test_undecodable_bytes_are_invalid_argument_over_tls(
    tls_keys_server: tuple[ServerProcess, dict[str, str], bytes],
) -> None:
    process, keys, _ = tls_keys_server
    async with process.channel(keys["alice"]) as channel:
        raw = channel.unary_unary(
            "/mem0stack.v1.MemoryService/CreateMemory",
            request_serializer=lambda b: b,
            response_deserializer=None,
        )
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await raw(b"\x0a\xff\xff\xff\xff\x0f")
    assert _check(error.value, grpc.StatusCode.INVALID_ARGUMENT) == "INVALID_ARGUMENT"


async def test_a_key_over_its_rate_gets_retry_info_over_tls(
    tls_keys_server: tuple[ServerProcess, dict[str, str], bytes],
) -> None:
    process, keys, _ = tls_keys_server
    async with process.channel(keys["limited"]) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        answers = await asyncio.gather(
            *(stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{BOB}")) for _ in range(60)),
            return_exceptions=True,
        )
    refused = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
    assert refused, "60 calls at once never met the limit of 20 per second"
    limited = refused[0]
    assert _check(limited, grpc.StatusCode.RESOURCE_EXHAUSTED) == "RATE_LIMITED"
    assert details_of(limited).retry


async def test_an_unknown_key_is_unauthenticated_over_tls(
    tls_keys_server: tuple[ServerProcess, dict[str, str], bytes],
) -> None:
    process, _, _ = tls_keys_server
    async with process.channel("m0s_000000000000_nope") as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{ALICE}"))
    assert _check(error.value, grpc.StatusCode.UNAUTHENTICATED) == "API_KEY_INVALID"
