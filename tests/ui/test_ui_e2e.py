"""The web UI end to end: Debian's Chromium, driven by playwright-core (ui/e2e/run.mjs),
against a real server (PostgreSQL, the scripted LLM, Neo4j for the graph) behind a real
Envoy that serves the built UI (ui/dist) and turns its gRPC-web calls into gRPC.

The script signs in, watches a row appear live when a memory is added through the REST API,
searches, opens a memory's detail and history, edits and deletes it, bulk-deletes, opens
the graph the scripted LLM extracted, creates and revokes an API key, and checks that a user
key cannot open another user's memories. It writes screenshots of the main pages into
docs/ui/. Run with `make test-ui`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mem0stack.v1 import (
    graph_service_pb2,
    graph_service_pb2_grpc,
    memory_pb2,
    memory_service_pb2,
    memory_service_pb2_grpc,
)
from tests.support.envoy import EnvoyProcess
from tests.support.fake_llm import FakeLLM, Recorded, Reply, facts
from tests.support.keys import create_key
from tests.support.neo4j import Neo4jProcess
from tests.support.servers import REPO, ServerProcess, free_port

UI_DIST = REPO / "ui" / "dist"
SCRIPT = REPO / "ui" / "e2e" / "run.mjs"
SCREENSHOTS = REPO / "docs" / "ui"
CHROMIUM = os.environ.get("MEM0STACK_TEST_CHROMIUM", "/usr/bin/chromium")
# The whole browser script: it fails on its own, step by step, well before this.
SCRIPT_TIMEOUT_S = 240


def _llm_answer(request: Recorded) -> Reply:
    """The scripted model: carol's conversation yields facts and a small graph; anything
    else (the memories the browser script stores verbatim) yields an empty graph."""
    kind = request.schema_name
    if kind == "extract_facts":
        return facts("Works at Acme as an engineer", "Her sister Dana lives in Lisbon")
    if kind == "reconcile_memories":
        return Reply(
            json={
                "decisions": [
                    {"fact": f["index"], "event": "ADD", "memory": None, "text": f["text"]}
                    for f in request.payload()["facts"]
                ]
            }
        )
    if kind == "extract_graph":
        if "Acme" not in request.user:
            return Reply(json={"entities": [], "relations": []})
        return Reply(
            json={
                "entities": [
                    {"name": "USER", "type": "person"},
                    {"name": "Acme", "type": "organization"},
                    {"name": "Dana", "type": "person"},
                    {"name": "Lisbon", "type": "place"},
                ],
                "relations": [
                    {"source": "me", "relation": "works_at", "target": "Acme", "memories": [0]},
                    {"source": "Dana", "relation": "sister_of", "target": "me", "memories": [1]},
                    {"source": "Dana", "relation": "lives_in", "target": "Lisbon", "memories": [1]},
                ],
            }
        )
    if kind == "contradict_relations":
        return Reply(json={"contradicted": []})
    return Reply(status=500, error=f"the UI test scripted no answer for {kind!r}")


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    if not (UI_DIST / "index.html").is_file():
        pytest.fail("ui/dist is not built: run `make ui` (make test-ui does)")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make ui-tools` as root")
    database_url = make_database("ui")
    keys = {
        "admin": create_key(database_url, "--admin", "--label", "ui-e2e"),
        "alice": create_key(database_url, "--user", "alice", "--label", "alice-e2e"),
    }
    fake = FakeLLM()
    fake.start()
    fake.responder = _llm_answer
    neo4j = Neo4jProcess()
    neo4j.start()
    server = ServerProcess(
        database_url=database_url,
        port=free_port(),
        env={
            "MEM0STACK_UI_DIR": str(UI_DIST),
            **fake.server_env(),
            "MEM0STACK_LLM_TIMEOUT_S": "5",
            "MEM0STACK_LLM_MAX_RETRIES": "0",
            "MEM0STACK_NEO4J_URI": neo4j.uri,
            "MEM0STACK_GRAPH_OUTBOX_POLL_S": "0.2",
            "MEM0STACK_GRAPH_RETRY_MAX_S": "0.5",
            "MEM0STACK_WATCH_CHECKPOINT_S": "5",
        },
    )
    envoy = EnvoyProcess(upstream=server.target, platform=f"127.0.0.1:{server.platform_port}")
    try:
        server.start()
        envoy.start()
        _seed_graph(server, keys["admin"])
        yield {"url": f"http://{envoy.target}/", **keys}
    finally:
        envoy.stop()
        server.stop()
        neo4j.stop()
        fake.stop()


def _seed_graph(server: ServerProcess, key: str) -> None:
    """carol's conversation, through the LLM pipeline, and her graph once it is written."""
    auth = [("authorization", f"Bearer {key}")]
    with grpc.insecure_channel(server.target) as channel:
        memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
        graph = graph_service_pb2_grpc.GraphServiceStub(channel)
        memories.AddMemories(
            memory_service_pb2.AddMemoriesRequest(
                parent="users/carol",
                messages=[
                    memory_pb2.Message(
                        role="user",
                        content="I'm an engineer at Acme; my sister Dana lives in Lisbon.",
                    )
                ],
            ),
            metadata=auth,
            timeout=30,
        )
        deadline = time.monotonic() + 60
        while True:
            status = graph.GetGraphStatus(
                graph_service_pb2.GetGraphStatusRequest(name="users/carol/graphStatus"),
                metadata=auth,
                timeout=10,
            )
            if status.pending_jobs == 0:
                return
            assert time.monotonic() < deadline, f"carol's graph still pending: {status}"
            time.sleep(0.2)


def test_the_ui_end_to_end(stack: dict[str, str]) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the UI's end-to-end script"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [node, str(SCRIPT)],
        env={
            **os.environ,
            "MEM0STACK_UI_URL": stack["url"],
            "MEM0STACK_UI_ADMIN_KEY": stack["admin"],
            "MEM0STACK_UI_USER_KEY": stack["alice"],
            "MEM0STACK_UI_SCREENSHOTS": str(SCREENSHOTS),
            "MEM0STACK_TEST_CHROMIUM": CHROMIUM,
        },
        cwd=REPO / "ui",
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    print(result.stdout)
    assert result.returncode == 0, f"the browser script failed:\n{result.stdout}\n{result.stderr}"
