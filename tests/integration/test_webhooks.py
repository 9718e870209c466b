"""Webhooks: deliveries from the change feed to a real HTTP receiver in this process.

Two server replicas run on one database with API keys; the receiver is ``http.server`` on a
loopback port, which the tests can take down, bring back, make fail or hold. The signature
is checked with the ``verify`` function of docs/webhooks.md, run as written there.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import grpc
import pytest

from mem0stack import Client
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, webhook_pb2, webhook_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as msvc
from mem0stack.v1 import webhook_service_pb2 as wsvc
from tests.support.envoy import EnvoyProcess
from tests.support.errors import details_of
from tests.support.keys import create_key
from tests.support.servers import REPO, ServerProcess, free_port

DOC = REPO / "docs" / "webhooks.md"
ENV = {
    "MEM0STACK_WEBHOOK_POLL_S": "0.2",
    "MEM0STACK_WEBHOOK_TIMEOUT_S": "1",
    "MEM0STACK_WEBHOOK_BACKOFF_INITIAL_S": "0.2",
    "MEM0STACK_WEBHOOK_BACKOFF_MAX_S": "0.5",
    "MEM0STACK_WEBHOOK_RETRY_S": "8",
}


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def doc_verify() -> Callable[..., dict[str, Any]]:
    """The receiver's ``verify`` as docs/webhooks.md writes it."""
    namespace: dict[str, Any] = {}
    (block,) = [b for b in doc_blocks() if "def verify(" in b]
    exec(block, namespace)
    verify: Callable[..., dict[str, Any]] = namespace["verify"]
    return verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str


class Receiver:
    """An HTTP receiver on a fixed loopback port: up or down, answering ``status``, or
    holding every request until ``release`` is set."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.status = 200
        self.hold = False
        self.holding = threading.Event()
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.hold:
                    receiver.holding.set()
                    receiver.release.wait(30)
                if receiver.status == 200:
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body, self.path)
                    )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in list(self.received) if r.path == path]


@dataclass
class Stack:
    database_url: str
    replicas: list[ServerProcess]
    keys: dict[str, str]
    receiver: Receiver


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """Two replicas on one database with keys (admin, alice, bob), and a receiver."""
    database_url = make_database("webhooks")
    keys = {
        "admin": create_key(database_url, "--admin"),
        "alice": create_key(database_url, "--user", "alice"),
        "bob": create_key(database_url, "--user", "bob"),
    }
    replicas = [ServerProcess(database_url, free_port(), env=ENV) for _ in range(2)]
    receiver = Receiver()
    receiver.up()
    try:
        for replica in replicas:
            replica.start()
        yield Stack(database_url, replicas, keys, receiver)
    finally:
        for replica in replicas:
            replica.stop()
        receiver.down()


@pytest.fixture
def receiver(stack: Stack) -> Iterator[Receiver]:
    stack.receiver.status = 200
    stack.receiver.hold = False
    yield stack.receiver
    stack.receiver.release.set()
    stack.receiver.hold = False
    stack.receiver.status = 200


class Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.webhooks = webhook_service_pb2_grpc.WebhookServiceStub(channel)
        self.memories = memory_service_pb2_grpc.MemoryServiceStub(channel)


@pytest.fixture
async def clients(stack: Stack) -> AsyncIterator[dict[str, Stubs]]:
    """Per key and replica: "admin" and "admin2" (the second replica), "alice", "bob"."""
    a, b = stack.replicas
    async with (
        a.channel(stack.keys["admin"]) as admin,
        b.channel(stack.keys["admin"]) as admin2,
        a.channel(stack.keys["alice"]) as alice,
        a.channel(stack.keys["bob"]) as bob,
    ):
        yield {
            "admin": Stubs(admin),
            "admin2": Stubs(admin2),
            "alice": Stubs(alice),
            "bob": Stubs(bob),
        }


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def memory(content: str) -> memory_pb2.Memory:
    return memory_pb2.Memory(content=content)


def seq_of(body: dict[str, Any]) -> int:
    return int(body["delivery"].rsplit("/", 1)[1])


async def test_deliveries_arrive_signed_in_order_once_each_after_the_receiver_returns(
    stack: Stack, receiver: Receiver, clients: dict[str, Stubs]
) -> None:
    verify = doc_verify()
    user = "alice"
    path = "/in-order"
    created = await clients["alice"].webhooks.CreateWebhook(
        wsvc.CreateWebhookRequest(
            parent=f"users/{user}", webhook=webhook_pb2.Webhook(url=receiver.url(path))
        )
    )
    assert created.name.startswith("users/alice/webhooks/")
    assert created.secret.startswith("whsec_")
    got = await clients["alice"].webhooks.GetWebhook(wsvc.GetWebhookRequest(name=created.name))
    assert got.url == receiver.url(path) and got.secret == ""

    # Written through both replicas; each replica's worker may deliver any of them.
    first = await clients["admin"].memories.CreateMemory(
        msvc.CreateMemoryRequest(parent=f"users/{user}", memory=memory("Lives in Porto"))
    )
    await until(lambda: len(receiver.bodies(path)) == 1, "the first delivery")

    receiver.down()
    second = await clients["admin2"].memories.CreateMemory(
        msvc.CreateMemoryRequest(parent=f"users/{user}", memory=memory("Works as a nurse"))
    )
    await clients["admin"].memories.UpdateMemory(
        msvc.UpdateMemoryRequest(memory=memory_pb2.Memory(name=first.name, content="Lives in Lyon"))
    )
    await clients["admin2"].memories.DeleteMemory(msvc.DeleteMemoryRequest(name=second.name))

    async def failed_attempts() -> int:
        page = await clients["alice"].webhooks.ListWebhookDeliveries(
            wsvc.ListWebhookDeliveriesRequest(parent=created.name)
        )
        pending = [d for d in page.deliveries if d.state == webhook_pb2.WebhookDelivery.PENDING]
        return max((d.attempts for d in pending if d.last_error), default=0)

    deadline = time.monotonic() + 10
    while await failed_attempts() < 2:
        assert time.monotonic() < deadline, "no failed attempts recorded while down"
        await asyncio.sleep(0.1)
    receiver.up()
    await until(lambda: len(receiver.bodies(path)) >= 4, "the deliveries after the return")
    await asyncio.sleep(1.0)  # time for a duplicate, if any replica were to send one

    bodies = receiver.bodies(path)
    assert [(b["type"], b["memory"]["name"]) for b in bodies] == [
        ("CREATED", first.name),
        ("CREATED", second.name),
        ("UPDATED", first.name),
        ("DELETED", second.name),
    ]
    assert bodies[2]["memory"]["content"] == "Lives in Lyon"
    seqs = [seq_of(b) for b in bodies]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4, "in order, once each"
    assert len({b["cursor"] for b in bodies}) == 4
    for r in [r for r in receiver.received if r.path == path]:
        event = verify(created.secret, r.headers, r.body)
        assert event["webhook"] == created.name
        assert r.headers["mem0stack-event"] == event["type"]
    tampered = receiver.received[-1]
    with pytest.raises(ValueError):
        verify(created.secret, tampered.headers, tampered.body.replace(b"DELETED", b"CREATED"))
    with pytest.raises(ValueError):
        verify("whsec_other", tampered.headers, tampered.body)
    stale = {**tampered.headers, "mem0stack-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(ValueError):
        verify(created.secret, stale, tampered.body)

    # The deliveries are visible through the API, newest first, all SUCCEEDED.
    page = await clients["alice"].webhooks.ListWebhookDeliveries(
        wsvc.ListWebhookDeliveriesRequest(parent=created.name, page_size=3)
    )
    assert [d.state for d in page.deliveries] == [webhook_pb2.WebhookDelivery.SUCCEEDED] * 3
    assert page.deliveries[0].event_type == webhook_pb2.Webhook.DELETED
    assert page.deliveries[0].memory == second.name
    assert any(d.attempts > 1 for d in page.deliveries)
    rest = await clients["alice"].webhooks.ListWebhookDeliveries(
        wsvc.ListWebhookDeliveriesRequest(parent=created.name, page_token=page.next_page_token)
    )
    assert [d.event_type for d in rest.deliveries] == [webhook_pb2.Webhook.CREATED]
    assert not rest.next_page_token


async def test_event_types_filter_and_the_webhook_of_all_users(
    stack: Stack, receiver: Receiver, clients: dict[str, Stubs]
) -> None:
    path = "/all-users"
    everyone = await clients["admin"].webhooks.CreateWebhook(
        wsvc.CreateWebhookRequest(
            webhook=webhook_pb2.Webhook(
                url=receiver.url(path),
                event_types=[webhook_pb2.Webhook.CREATED],
                filter='categories:"travel"',
            )
        )
    )
    assert everyone.name.startswith("webhooks/")
    for user, content, categories in [
        ("alice", "Flies to Oslo in May", ["travel"]),
        ("bob", "Likes chess", ["hobby"]),
        ("bob", "Visits Rome every spring", ["travel"]),
    ]:
        made = await clients["admin2"].memories.CreateMemory(
            msvc.CreateMemoryRequest(
                parent=f"users/{user}",
                memory=memory_pb2.Memory(content=content, categories=categories),
            )
        )
        await clients["admin"].memories.DeleteMemory(msvc.DeleteMemoryRequest(name=made.name))
    await until(lambda: len(receiver.bodies(path)) >= 2, "the matching changes of both users")
    await asyncio.sleep(0.6)
    bodies = receiver.bodies(path)
    assert [(b["type"], b["memory"]["content"]) for b in bodies] == [
        ("CREATED", "Flies to Oslo in May"),
        ("CREATED", "Visits Rome every spring"),
    ]

    # Disabled: nothing more, and changes made meanwhile are not sent when enabled again.
    await clients["admin"].webhooks.UpdateWebhook(
        wsvc.UpdateWebhookRequest(webhook=webhook_pb2.Webhook(name=everyone.name, disabled=True))
    )
    await clients["admin"].memories.CreateMemory(
        msvc.CreateMemoryRequest(
            parent="users/alice",
            memory=memory_pb2.Memory(content="Books a train", categories=["travel"]),
        )
    )
    enabled = await clients["admin"].webhooks.UpdateWebhook(
        wsvc.UpdateWebhookRequest(
            webhook=webhook_pb2.Webhook(name=everyone.name, disabled=False),
            update_mask={"paths": ["disabled"]},
        )
    )
    assert not enabled.disabled
    await asyncio.sleep(0.8)
    assert len(receiver.bodies(path)) == 2

    await clients["admin"].webhooks.DeleteWebhook(wsvc.DeleteWebhookRequest(name=everyone.name))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients["admin"].webhooks.GetWebhook(wsvc.GetWebhookRequest(name=everyone.name))
    assert details_of(caught.value).reason == "WEBHOOK_NOT_FOUND"


async def test_a_webhook_of_all_users_misses_no_change_committed_late(
    stack: Stack, receiver: Receiver, clients: dict[str, Stubs]
) -> None:
    """A change of one user that drew its feed position before another user's change but
    committed after it (and after that one's delivery) is still delivered."""
    path = "/late"
    early = await clients["admin"].memories.CreateMemory(
        msvc.CreateMemoryRequest(parent="users/alice", memory=memory("Reads on the train"))
    )
    everyone = await clients["admin"].webhooks.CreateWebhook(
        wsvc.CreateWebhookRequest(webhook=webhook_pb2.Webhook(url=receiver.url(path)))
    )
    conn = await asyncpg.connect(stack.database_url)
    try:
        late = conn.transaction()
        await late.start()
        # The feed trigger draws alice's position now; it commits only at the end.
        await conn.execute(
            "UPDATE memories SET metadata = metadata WHERE id = $1", uuid.UUID(early.uid)
        )
        meanwhile = await clients["admin2"].memories.CreateMemory(
            msvc.CreateMemoryRequest(parent="users/bob", memory=memory("Plays the oboe"))
        )
        await until(lambda: len(receiver.bodies(path)) == 1, "bob's change")
        await asyncio.sleep(0.6)  # several polls read past alice's uncommitted position
        await late.commit()
    finally:
        await conn.close()
    await until(lambda: len(receiver.bodies(path)) == 2, "alice's change, committed late")
    bodies = receiver.bodies(path)
    assert [(b["type"], b["memory"]["name"]) for b in bodies] == [
        ("CREATED", meanwhile.name),
        ("UPDATED", early.name),
    ]
    assert seq_of(bodies[1]) < seq_of(bodies[0])
    await clients["admin"].webhooks.DeleteWebhook(wsvc.DeleteWebhookRequest(name=everyone.name))


async def test_a_hanging_receiver_does_not_slow_writes_and_failures_are_given_up(
    stack: Stack, receiver: Receiver, clients: dict[str, Stubs]
) -> None:
    user = "bob"
    hung = await clients["bob"].webhooks.CreateWebhook(
        wsvc.CreateWebhookRequest(
            parent=f"users/{user}", webhook=webhook_pb2.Webhook(url=receiver.url("/hung"))
        )
    )
    receiver.release.clear()
    receiver.holding.clear()
    receiver.hold = True
    await clients["admin"].memories.CreateMemory(
        msvc.CreateMemoryRequest(parent=f"users/{user}", memory=memory("Owns a bicycle"))
    )
    await until(receiver.holding.is_set, "a delivery held by the receiver")
    started = time.monotonic()
    for i in range(10):
        await clients["admin"].memories.AddMemories(
            msvc.AddMemoriesRequest(
                parent=f"users/{user}",
                messages=[memory_pb2.Message(role="user", content=f"I have {i + 2} plants")],
            )
        )
    elapsed = time.monotonic() - started
    assert receiver.holding.is_set() and not receiver.release.is_set()
    # Ten writes while every delivery hangs for the whole timeout (1 s each): far less.
    assert elapsed < 3.0, f"10 AddMemories took {elapsed:.2f}s with the receiver hanging"

    # A receiver that never accepts: retried until the retry period (8 s), then FAILED.
    receiver.hold = False
    receiver.release.set()
    receiver.status = 503
    deadline = time.monotonic() + 25
    while True:
        page = await clients["bob"].webhooks.ListWebhookDeliveries(
            wsvc.ListWebhookDeliveriesRequest(parent=hung.name, page_size=1000)
        )
        oldest = page.deliveries[-1]
        if oldest.state == webhook_pb2.WebhookDelivery.FAILED:
            break
        assert time.monotonic() < deadline, f"never given up: {oldest}"
        await asyncio.sleep(0.3)
    assert oldest.attempts > 2 and oldest.last_error in ("HTTP 503", "timed out after 1 s")
    assert oldest.HasField("complete_time")
    await clients["bob"].webhooks.DeleteWebhook(wsvc.DeleteWebhookRequest(name=hung.name))


async def test_bad_urls_and_filters_are_invalid_argument(clients: dict[str, Stubs]) -> None:
    cases = [
        (webhook_pb2.Webhook(url=""), "INVALID_WEBHOOK_URL"),
        (webhook_pb2.Webhook(url="ftp://example.com/hook"), "INVALID_WEBHOOK_URL"),
        (webhook_pb2.Webhook(url="http://"), "INVALID_WEBHOOK_URL"),
        (webhook_pb2.Webhook(url="not a url"), "INVALID_WEBHOOK_URL"),
        (webhook_pb2.Webhook(url="http://example.com:99999/"), "INVALID_WEBHOOK_URL"),
        (webhook_pb2.Webhook(url="https://example.com/" + "a" * 2100), "INVALID_WEBHOOK_URL"),
        (webhook_pb2.Webhook(url="https://example.com/h", filter="content = "), "INVALID_FILTER"),
        (
            webhook_pb2.Webhook(url="https://example.com/h", filter='colour = "red"'),
            "UNKNOWN_FILTER_FIELD",
        ),
        (webhook_pb2.Webhook(url="https://example.com/h", event_types=[0]), "INVALID_ARGUMENT"),
    ]
    for webhook, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await clients["alice"].webhooks.CreateWebhook(
                wsvc.CreateWebhookRequest(parent="users/alice", webhook=webhook)
            )
        err = details_of(caught.value)
        assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason), webhook
    made = await clients["alice"].webhooks.CreateWebhook(
        wsvc.CreateWebhookRequest(
            parent="users/alice", webhook=webhook_pb2.Webhook(url="https://example.com/h")
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients["alice"].webhooks.UpdateWebhook(
            wsvc.UpdateWebhookRequest(webhook=webhook_pb2.Webhook(name=made.name, url="gopher://x"))
        )
    assert details_of(caught.value).reason == "INVALID_WEBHOOK_URL"
    await clients["alice"].webhooks.DeleteWebhook(wsvc.DeleteWebhookRequest(name=made.name))


async def test_a_user_key_reaches_only_its_users_webhooks(clients: dict[str, Stubs]) -> None:
    alice, bob = clients["alice"].webhooks, clients["bob"].webhooks
    made = await alice.CreateWebhook(
        wsvc.CreateWebhookRequest(
            parent="users/alice", webhook=webhook_pb2.Webhook(url="https://example.com/a")
        )
    )

    async def fails(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request)
        err = details_of(caught.value)
        return err.code, err.reason

    not_found = (grpc.StatusCode.NOT_FOUND, "WEBHOOK_NOT_FOUND")
    denied = (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert await fails(bob.GetWebhook, wsvc.GetWebhookRequest(name=made.name)) == not_found
    assert await fails(bob.DeleteWebhook, wsvc.DeleteWebhookRequest(name=made.name)) == not_found
    assert (
        await fails(
            bob.UpdateWebhook,
            wsvc.UpdateWebhookRequest(webhook=webhook_pb2.Webhook(name=made.name, disabled=True)),
        )
        == not_found
    )
    assert (
        await fails(bob.ListWebhookDeliveries, wsvc.ListWebhookDeliveriesRequest(parent=made.name))
        == not_found
    )
    assert await fails(bob.ListWebhooks, wsvc.ListWebhooksRequest(parent="users/alice")) == denied
    assert (
        await fails(
            bob.CreateWebhook,
            wsvc.CreateWebhookRequest(
                parent="users/alice", webhook=webhook_pb2.Webhook(url="https://evil.example/")
            ),
        )
        == denied
    )
    # The webhooks of all users are the admin's alone.
    assert await fails(alice.ListWebhooks, wsvc.ListWebhooksRequest()) == denied
    assert (
        await fails(
            alice.CreateWebhook,
            wsvc.CreateWebhookRequest(webhook=webhook_pb2.Webhook(url="https://example.com/")),
        )
        == denied
    )
    mine = await alice.ListWebhooks(wsvc.ListWebhooksRequest(parent="users/alice"))
    assert made.name in [w.name for w in mine.webhooks]
    assert all(w.secret == "" for w in mine.webhooks)
    theirs = await bob.ListWebhooks(wsvc.ListWebhooksRequest(parent="users/bob"))
    assert made.name not in [w.name for w in theirs.webhooks]
    await alice.DeleteWebhook(wsvc.DeleteWebhookRequest(name=made.name))


def test_the_docs_register_example_over_rest_through_envoy(stack: Stack) -> None:
    """docs/webhooks.md's REST registration, through a real Envoy, then its Python one."""
    envoy = EnvoyProcess(upstream=stack.replicas[0].target)
    envoy.start()
    try:
        created = envoy.request(
            "POST",
            "/v1/users/alice/webhooks",
            {"url": "https://example.com/hooks/mem0", "eventTypes": ["CREATED", "SUPERSEDED"]},
            key=stack.keys["alice"],
        )
        assert created.status == 200, created.body
        assert created.json["secret"].startswith("whsec_")
        assert created.json["eventTypes"] == ["CREATED", "SUPERSEDED"]
        listed = envoy.request("GET", "/v1/users/alice/webhooks", key=stack.keys["alice"])
        assert created.json["name"] in [w["name"] for w in listed.json["webhooks"]]
        bad = envoy.request(
            "POST", "/v1/users/alice/webhooks", {"url": "ftp://x"}, key=stack.keys["alice"]
        )
        assert bad.status == 400
        assert bad.json["details"][0]["reason"] == "INVALID_WEBHOOK_URL"
        everyone = envoy.request("GET", "/v1/webhooks", key=stack.keys["admin"])
        assert everyone.status == 200
        deleted = envoy.request("DELETE", f"/v1/{created.json['name']}", key=stack.keys["alice"])
        assert deleted.status == 200
    finally:
        envoy.stop()

    (register,) = [b for b in doc_blocks() if "CreateWebhook(" in b]
    namespace: dict[str, Any] = {"print": lambda *args: None}
    env = {"MEM0STACK_TARGET": stack.replicas[1].target, "MEM0STACK_API_KEY": stack.keys["alice"]}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        exec(register, namespace)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert namespace["created"].secret.startswith("whsec_")

    # The Python SDK has every WebhookService RPC as a method.
    with Client(stack.replicas[1].target, api_key=stack.keys["alice"]) as client:
        listed = client.list_webhooks(wsvc.ListWebhooksRequest(parent="users/alice"))
        assert namespace["created"].name in [w.name for w in listed.webhooks]
        client.delete_webhook(wsvc.DeleteWebhookRequest(name=namespace["created"].name))
