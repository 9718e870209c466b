"""Traces end to end: REST -> Envoy -> server, through SQL and the LLM, to an OTLP receiver.

The receiver runs in this test process: a small HTTP handler that decodes OTLP/HTTP
protobuf export requests (opentelemetry-proto) and keeps their spans. The server exports
to it because OTEL_EXPORTER_OTLP_ENDPOINT names it; the LLM is the scripted fake. The call
enters through Envoy with a W3C traceparent, and the test finds one trace holding the gRPC
handler's span (child of the caller's span), SQL statement spans and the LLM call's span,
with the attributes an operator filters on and no user id. The server's JSON log line for
the call carries the same trace id and its request id. A tool called through the MCP bridge
over HTTP with a traceparent lands in the caller's trace too.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from mem0stack_server.obs.tracing import user_hash
from tests.mcp.bridges import HttpBridge, call
from tests.support.envoy import EnvoyProcess
from tests.support.fake_llm import FakeLLM, facts
from tests.support.servers import ServerProcess, free_port


class OTLPReceiver:
    """Accepts OTLP/HTTP trace exports on 127.0.0.1 and keeps every span."""

    def __init__(self) -> None:
        self.spans: list[trace_pb2.Span] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                with receiver.lock:
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            receiver.spans.extend(scope.spans)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def trace(self, trace_id: bytes) -> list[trace_pb2.Span]:
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    otlp = OTLPReceiver()
    otlp.thread.start()
    yield otlp
    otlp.server.shutdown()


@pytest.fixture(scope="module")
def traced(make_database, receiver: OTLPReceiver, fake_llm: FakeLLM) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    server = ServerProcess(
        database_url=make_database("tracing"),
        port=free_port(),
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "mem0stack-test",
            "MEM0STACK_LOG_FORMAT": "json",
            **fake_llm.server_env(),
        },
    )
    server.start()
    envoy = EnvoyProcess(upstream=server.target)
    try:
        envoy.start()
        yield server, envoy
    finally:
        envoy.stop()
        server.stop()


def test_one_trace_from_rest_through_sql_and_llm(
    traced: Any, receiver: OTLPReceiver, fake_llm: FakeLLM, user_id: str
) -> None:
    server, envoy = traced
    fake_llm.reset()
    fake_llm.script(facts("Plays the cello"))
    trace_id, parent_id = secrets.token_bytes(16), secrets.token_bytes(8)
    added = envoy.request(
        "POST",
        f"/v1/users/{user_id}/memories:add",
        {"messages": [{"role": "user", "content": "I play the cello on weekends"}]},
        headers={"traceparent": f"00-{trace_id.hex()}-{parent_id.hex()}-01"},
    )
    assert added.status == 200, added.body
    assert [e["memory"]["content"] for e in added.json["events"]] == ["Plays the cello"]

    def complete() -> list[trace_pb2.Span] | None:
        spans = receiver.trace(trace_id)
        names = [span.name for span in spans]
        handler = [n for n in names if n.endswith("/AddMemories")]
        sql = [n for n in names if n.startswith("db ")]
        llm = [n for n in names if n == "llm extract_facts"]
        return spans if handler and sql and llm else None

    deadline = time.monotonic() + 20
    spans = complete()
    while spans is None and time.monotonic() < deadline:
        time.sleep(0.2)
        spans = complete()
    seen = sorted({span.name for span in receiver.trace(trace_id)})
    assert spans is not None, f"the trace is incomplete: {seen}"

    by_id = {span.span_id: span for span in spans}
    (handler,) = [span for span in spans if span.name.endswith("/AddMemories")]
    # The gRPC handler continues the REST caller's span, passed on by Envoy as metadata.
    assert handler.parent_span_id == parent_id
    assert handler.kind == trace_pb2.Span.SPAN_KIND_SERVER

    def under_handler(span: trace_pb2.Span) -> bool:
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            if span.span_id == handler.span_id:
                return True
        return span.parent_span_id == handler.span_id

    for span in spans:
        if span is not handler:
            assert under_handler(span), f"{span.name} is not under the handler"

    attributes = {span.name: {kv.key: kv.value for kv in span.attributes} for span in spans}
    assert attributes[handler.name]["mem0stack.user_hash"].string_value == user_hash(user_id)
    llm = attributes["llm extract_facts"]
    assert llm["gen_ai.request.model"].string_value == "fake-model"
    assert llm["gen_ai.usage.input_tokens"].int_value > 0
    inserts = [s for s in spans if s.name == "db INSERT"]
    assert inserts, seen
    assert "embed documents" in seen
    # No user id and no memory text in any attribute.
    for named in attributes.values():
        for value in named.values():
            text = value.string_value
            assert user_id not in text and "cello" not in text

    # The call's log line leads to its trace.
    wanted = trace_id.hex()
    deadline = time.monotonic() + 10
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = [
            json.loads(line)
            for line in server.logs().splitlines()
            if line.startswith("{") and wanted in line
        ]
        if any(line.get("event") == "rpc" for line in lines):
            break
        time.sleep(0.2)
    (rpc,) = [line for line in lines if line.get("event") == "rpc"]
    assert rpc["trace_id"] == wanted
    assert len(rpc["span_id"]) == 16
    # Envoy's request id, which it also returns to the caller.
    assert rpc["request_id"] == added.headers["x-request-id"]


async def test_one_trace_from_mcp_to_the_server(
    traced: Any, receiver: OTLPReceiver, user_id: str
) -> None:
    """The MCP bridge (streamable HTTP) passes the caller's traceparent on to the server."""
    server, _ = traced
    bridge = HttpBridge(["--server", server.target])
    bridge.start()
    trace_id, parent_id = secrets.token_bytes(16), secrets.token_bytes(8)
    headers = {
        "X-Mem0stack-User": user_id,
        "traceparent": f"00-{trace_id.hex()}-{parent_id.hex()}-01",
    }
    try:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
            streamable_http_client(bridge.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await call(session, "search_memory", query="what does the user play?")
    finally:
        bridge.stop()

    deadline = time.monotonic() + 20
    handlers: list[trace_pb2.Span] = []
    while not handlers and time.monotonic() < deadline:
        handlers = [s for s in receiver.trace(trace_id) if s.name.endswith("/SearchMemories")]
        await asyncio.sleep(0.2)
    assert handlers, "no SearchMemories span in the MCP caller's trace"
    assert all(span.parent_span_id == parent_id for span in handlers)
