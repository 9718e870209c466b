"""Every exported metric is updated: a real server does real work, then /metrics is read.

The families checked are the ones ``mem0stack_server.obs.metrics`` defines, found by
looking at the module, so a metric added there without being wired (or listed below with
the reason it cannot move in this scenario) fails the test. Counters and histograms must
have grown since a scrape taken before the work; gauges must have read something other
than 0, during the work (the transient ones) or after it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, operation_pb2, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.embed import EmbedderError, OpenAIEmbedder, create_embedder
from mem0stack_server.embed._batcher import set_batch_observer
from mem0stack_server.obs import metrics
from tests.integration.test_openai_embedder import DIM, FakeEmbeddingServer
from tests.support.fake_llm import FakeLLM, Recorded, Reply, facts
from tests.support.servers import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
METRICS_PORT = free_port()
POOL_MAX = 7  # not the default, so the gauge is seen to read the real pool

# Families that only move on events this scenario does not cause, and why. Everything
# else must move.
RARE = {
    "mem0stack_llm_circuit_state": "0 means closed, the healthy state; only a tripped "
    "breaker sets it (test_llm_pipeline trips one)",
    "mem0stack_llm_circuit_opened": "the breaker opens only after several failed LLM calls "
    "in a row",
    "mem0stack_llm_output_repairs": "only an unparseable LLM answer is sent back for repair",
    "mem0stack_llm_output_invalid": "only an answer still unparseable after repair",
    "mem0stack_llm_unknown_ids": "only a reconciliation naming a memory it was not shown",
    "mem0stack_graph_outbox_pending": "graph memory is off without Neo4j",
    "mem0stack_graph_outbox_lag_seconds": "graph memory is off without Neo4j",
    "mem0stack_graph_jobs": "graph memory is off without Neo4j",
    "mem0stack_graph_apply_seconds": "graph memory is off without Neo4j",
    "mem0stack_graph_relations_invalidated": "graph memory is off without Neo4j",
    "mem0stack_watch_overflows": "only a watcher reading slower than its queue fills",
    "mem0stack_db_pool_waiting": "only a pool with every connection taken "
    "(test_pool_counts_the_tasks_waiting_for_a_connection holds them)",
    "mem0stack_audit_entries_dropped": "only a database 10,000 audit entries behind",
    "mem0stack_rate_limited": "only with MEM0STACK_RATE_LIMIT_RPS set (test_rate_limit.py)",
    "mem0stack_webhook_deliveries": "webhooks are tested in test_webhooks.py",
    "mem0stack_webhook_delivery_seconds": "webhooks are tested in test_webhooks.py",
    "mem0stack_webhook_deliveries_pending": "webhooks are tested in test_webhooks.py",
    "mem0stack_memories_expired": "only memories expired longer ago than "
    "MEM0STACK_EXPIRY_RETENTION_HOURS (test_time.py sweeps some)",
    "mem0stack_database_outages": "only a database that stops answering (test_db_restart.py)",
    "mem0stack_database_restarts": "only an embedded PostgreSQL that died (test_db_restart.py)",
    "mem0stack_refused": "only while the database is away or the server drains "
    "(test_db_restart.py)",
}

# What the conversations say and what the fake LLM extracts from them.
FACTS = {
    "I play the cello on weekends": "Plays the cello",
    "I have started learning the oboe": "Learning the oboe",
    "I collect old stamps": "Collects old stamps",
}
CREATED = ["Prefers window seats", "Allergic to peanuts", "Lives in Porto", "Works as a nurse"]
# The async operation whose LLM request is held open until the test has looked.
HELD = "I have started learning the oboe"


def defined_families() -> dict[str, str]:
    """Name -> type of every metric family obs/metrics.py defines."""
    families = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            (described,) = value.describe()
            families[described.name] = described.type
    return families


def scrape() -> dict[str, list[Sample]]:
    """The server's metrics, family name -> samples."""
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def series(samples: dict[str, list[Sample]], family: str, kind: str) -> dict[Any, float]:
    """The values that say whether ``family`` moved, by label set: a counter's total, a
    histogram's count, a gauge's value (creation times and buckets left out)."""
    suffix = {"counter": "_total", "histogram": "_count"}.get(kind, "")
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in samples.get(family, [])
        if s.name == family + suffix
    }


def moved(family: str, kind: str, before: dict[str, list[Sample]], *after: Any) -> bool:
    if kind == "gauge":
        return any(
            value != 0 for scraped in after for value in series(scraped, family, kind).values()
        )
    start = series(before, family, kind)
    return any(
        value > start.get(labels, 0.0)
        for scraped in after
        for labels, value in series(scraped, family, kind).items()
    )


@pytest.fixture(scope="module")
def metrics_server(make_database, fake_llm: FakeLLM) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("metrics"),
        port=free_port(),
        env={
            "MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{METRICS_PORT}",
            **fake_llm.server_env(),
            "MEM0STACK_LLM_TIMEOUT_S": "20",
            "MEM0STACK_LLM_MAX_RETRIES": "1",
            "MEM0STACK_LLM_BACKOFF_BASE_S": "0.05",
            "MEM0STACK_LLM_BACKOFF_MAX_S": "0.2",
            # One worker and room for one waiting operation: a third is refused.
            "MEM0STACK_OPERATION_WORKERS": "1",
            "MEM0STACK_OPERATION_QUEUE_SIZE": "1",
            "MEM0STACK_DB_POOL_MAX": str(POOL_MAX),
            # The memory and user counts are read again often enough to see the work.
            "MEM0STACK_STATS_INTERVAL_S": "0.2",
        },
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def stub(
    metrics_server: ServerProcess,
) -> AsyncIterator[memory_service_pb2_grpc.MemoryServiceStub]:
    async with metrics_server.channel() as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel)


def answer_from_script(release: threading.Event) -> Any:
    """Extraction answers from FACTS; every fact reconciled as new; HELD waits for
    ``release`` (on the fake's thread, so the server's request stays in flight)."""

    def respond(request: Recorded) -> Reply:
        if request.schema_name == "reconcile_memories":
            decisions = [
                {"fact": fact["index"], "event": "ADD", "memory": None, "text": ""}
                for fact in request.payload()["facts"]
            ]
            return Reply(json={"decisions": decisions})
        if HELD in request.user:
            release.wait(15)
        said = next(message for message in FACTS if message in request.user)
        return facts(FACTS[said])

    return respond


async def add(stub: Any, user_id: str, message: str, **fields: Any) -> Any:
    return await stub.AddMemories(
        svc.AddMemoriesRequest(
            parent=f"users/{user_id}",
            messages=[memory_pb2.Message(role="user", content=message)],
            **fields,
        )
    )


async def until(condition: Any, what: str, timeout_s: float = 15.0) -> Any:
    """Poll ``condition()`` (blocking, run off the loop) until it returns something true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(condition)
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not seen within {timeout_s}s: {what}")


async def wait_done(stub: Any, name: str) -> operation_pb2.Operation:
    async def done() -> operation_pb2.Operation | None:
        op = await stub.GetOperation(operation_pb2.GetOperationRequest(name=name))
        return op if op.done else None

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if (op := await done()) is not None:
            return op
        await asyncio.sleep(0.1)
    raise AssertionError(f"operation {name} not done")


async def test_real_work_moves_every_metric(stub, fake_llm: FakeLLM, user_id: str) -> None:
    families = defined_families()
    assert set(RARE) <= set(families), "RARE lists a metric that no longer exists"
    release = threading.Event()
    fake_llm.reset()
    # The first LLM request fails once, so a retry is counted too.
    fake_llm.script(Reply(status=500, error="try again"))
    fake_llm.responder = answer_from_script(release)
    parent = f"users/{user_id}"
    before = await asyncio.to_thread(scrape)
    # A watcher stays open through the work, so the open-streams gauge reads 1.
    watcher = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent))
    await watcher.initial_metadata()

    try:
        # Memories stored verbatim: one embedded alone, three in one batch; then searched.
        await stub.CreateMemory(
            svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content=CREATED[0]))
        )
        await stub.BatchCreateMemories(
            svc.BatchCreateMemoriesRequest(
                parent=parent,
                requests=[
                    svc.CreateMemoryRequest(memory=memory_pb2.Memory(content=content))
                    for content in CREATED[1:]
                ],
            )
        )
        found = await stub.SearchMemories(
            svc.SearchMemoriesRequest(parent=parent, query="where does the user live?")
        )
        assert found.results
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.ListMemories(svc.ListMemoriesRequest(parent=parent, filter="run_id = ("))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        # AddMemories with inference, answered by the fake LLM after one retry.
        added = await add(stub, user_id, "I play the cello on weekends")
        assert [e.memory.content for e in added.events] == ["Plays the cello"]

        # In the background: the first operation's LLM request is held, the second waits
        # in the queue, the third finds it full.
        first = await add(stub, user_id, HELD, async_mode=True)
        await until(
            lambda: series(scrape(), "mem0stack_llm_requests_in_flight", "gauge").get(()) == 1,
            "the held LLM request in flight",
        )
        second = await add(stub, user_id, "I collect old stamps", async_mode=True)
        with pytest.raises(grpc.aio.AioRpcError) as full:
            await add(stub, user_id, "I collect old stamps", async_mode=True)
        assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        during = await asyncio.to_thread(scrape)
    finally:
        release.set()
        watcher.cancel()
    for accepted in (first, second):
        op = await wait_done(stub, accepted.operation)
        assert op.state == operation_pb2.Operation.SUCCEEDED
    after = await asyncio.to_thread(scrape)

    still = {
        name: kind
        for name, kind in families.items()
        if name not in RARE and not moved(name, kind, before, during, after)
    }
    assert not still, f"never updated (wire them, or list them in RARE with why): {still}"

    # The figures are the right ones, not just some.
    assert series(during, "mem0stack_operation_queue_depth", "gauge") == {(): 1.0}
    assert series(during, "mem0stack_operations_running", "gauge") == {(): 1.0}
    assert series(during, "mem0stack_watch_streams", "gauge") == {(): 1.0}
    await until(
        lambda: (
            series(scrape(), "mem0stack_memories", "gauge").get((("state", "active"),))
            == len(CREATED) + len(FACTS)
        ),
        "the active memories counted",
    )
    assert series(after, "mem0stack_database_up", "gauge") == {(): 1.0}
    (info,) = series(after, "mem0stack_build_info", "gauge")
    assert dict(info)["llm_model"] == "fake-model"
    pool = series(after, "mem0stack_db_pool_connections", "gauge")
    assert set(pool) == {(("state", "idle"),), (("state", "in_use"),)}
    assert 1 <= sum(pool.values()) <= POOL_MAX
    assert series(after, "mem0stack_db_pool_max_connections", "gauge") == {(): POOL_MAX}
    steps = {
        dict(labels)["step"]
        for labels, count in series(after, "mem0stack_search_step_seconds", "histogram").items()
        if count
    }
    assert steps == {"embed", "keyword", "ranking"}
    codes = {
        dict(labels)["grpc_code"] for labels in series(after, "grpc_server_handled", "counter")
    }
    assert {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"} <= codes
    batches = {s.name: s.value for s in after["mem0stack_embedding_batch_texts"]}
    seconds = {s.name: s.value for s in after["mem0stack_embedding_seconds"]}
    assert (
        batches["mem0stack_embedding_batch_texts_count"]
        == (seconds["mem0stack_embedding_seconds_count"])
    )
    # The batch of three went in as one.
    assert (
        batches["mem0stack_embedding_batch_texts_sum"]
        > (batches["mem0stack_embedding_batch_texts_count"])
    )

    # Only server-level names: no user id, no memory text, in any label.
    private = [user_id, *CREATED, *FACTS, *FACTS.values()]
    leaks = [
        (sample.name, value)
        for scraped in (during, after)
        for samples in scraped.values()
        for sample in samples
        for value in sample.labels.values()
        if any(secret in value for secret in private)
    ]
    assert not leaks

    # Metrics come from obs/metrics.py only, so the check above saw all of them. (The
    # text format gives a counter's or histogram's creation time as a family of its own.)
    ours = {
        name.removesuffix("_created")
        for name in after
        if name.startswith(("mem0stack_", "grpc_server_"))
    }
    assert ours <= set(families)


async def test_both_embedders_report_every_batch() -> None:
    """What feeds the embedding metrics: each model run or HTTP request, failed ones too.

    The server above runs the local embedder only; this covers the OpenAI one as well.
    """
    seen: list[tuple[float, int]] = []
    set_batch_observer(lambda seconds, texts: seen.append((seconds, texts)))
    try:
        local = create_embedder("local", cache_size=0)
        try:
            await local.embed(["one", "two", "three"])
            await local.embed_query("four")
        finally:
            await local.aclose()
        assert [texts for _, texts in seen] == [3, 1]

        seen.clear()
        endpoint = FakeEmbeddingServer()
        await endpoint.start()
        remote = OpenAIEmbedder(
            model="fake-embed",
            base_url=endpoint.base_url,
            api_key="test-key",
            dimensions=DIM,
            batch_size=2,
            max_retries=0,
        )
        try:
            await remote.embed(["one", "two", "three"])  # two requests: 2 + 1
            endpoint.mode = "error500"
            with pytest.raises(EmbedderError):
                await remote.embed_one("four")
        finally:
            await remote.aclose()
            await endpoint.stop()
        assert sorted(texts for _, texts in seen) == [1, 1, 2]
        assert all(seconds > 0 for seconds, _ in seen)
    finally:
        set_batch_observer(None)


def test_every_metric_is_documented() -> None:
    docs = "\n".join(path.read_text() for path in (REPO / "docs").glob("*.md"))
    exposed = {
        name + "_total" if kind == "counter" else name for name, kind in defined_families().items()
    }
    missing = sorted(name for name in exposed if f"`{name}" not in docs)
    assert not missing, f"document these in docs/operations.md: {missing}"


async def test_pool_counts_the_tasks_waiting_for_a_connection(make_database) -> None:  # type: ignore[no-untyped-def]
    """The waiting gauge and the acquire histogram read the real pool's queue."""
    from mem0stack_server.store.database import create_pool, set_acquire_observer

    waits: list[float] = []
    set_acquire_observer(waits.append)
    pool = await create_pool(make_database("pool"), min_size=1, max_size=1, ef_search=40)
    try:
        assert pool.get_waiting() == 0
        held = await pool.acquire()
        queued = asyncio.create_task(pool.fetchval("SELECT 1"))
        await until(lambda: pool.get_waiting() == 1, "the second task waiting")
        await asyncio.sleep(0.2)
        await pool.release(held)
        assert await queued == 1
        assert pool.get_waiting() == 0
        # The first acquire found the connection free; the second waited for it.
        assert len(waits) == 2
        assert waits[0] < 0.2 <= waits[1]
    finally:
        set_acquire_observer(None)
        await pool.close()
