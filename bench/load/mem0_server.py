"""mem0 behind a minimal HTTP server, for the load benchmark; runs in .venv-mem0.

mem0 is a library with no server of its own in the OSS package, so the load benchmark
drives it the way an application serving many users would: ``Memory`` shared by the
threads of the standard library's ThreadingHTTPServer (one thread per keep-alive
connection, HTTP/1.1), its PostgreSQL pool as large as mem0-stack's (``--maxconn``). The
load generator then talks to both systems from the same asyncio process over a local
socket, and mem0's CPU is measured in its own process, as mem0-stack's is.

Routes (JSON in, JSON out): ``POST /search`` {query, user, top_k}, ``POST /add`` {text,
user} (one message, ``infer=False``), ``POST /list`` {user, top_k} (``get_all``). A
failure answers 500 with the exception's class name as ``error``. Before serving, the
user ``--user`` is filled with ``--memories`` numbered texts through mem0's own vector
store with precomputed embeddings, as bench_compare fills past its timed part; then
``ready`` is printed. Only the standard library, mem0 and bench.mem0_runner are imported.

    .venv-mem0/bin/python -m bench.load.mem0_server --pg URI --embed-url URL --port P ...
"""

from __future__ import annotations

import argparse
import json
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.mem0_runner import _payload, memory


def fill(m: Any, user: str, texts: list[str], vectors: list[list[float]], count: int) -> None:
    for lo in range(0, count, 500):
        hi = min(count, lo + 500)
        m.vector_store.insert(
            vectors=[vectors[i % len(vectors)] for i in range(lo, hi)],
            payloads=[_payload(f"{texts[i % len(texts)]} (#{i})", user) for i in range(lo, hi)],
            ids=[str(uuid.uuid4()) for _ in range(lo, hi)],
        )


def handler_for(m: Any) -> type[BaseHTTPRequestHandler]:
    def answer(route: str, body: dict[str, Any]) -> int:
        if route == "/search":
            reply = m.search(
                body["query"],
                top_k=body["top_k"],
                filters={"user_id": body["user"]},
                threshold=0.0,
            )
        elif route == "/add":
            reply = m.add(
                [{"role": "user", "content": body["text"]}], user_id=body["user"], infer=False
            )
        elif route == "/list":
            reply = m.get_all(filters={"user_id": body["user"]}, top_k=body["top_k"])
        else:
            raise LookupError(route)
        return len(reply["results"])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            payload: dict[str, Any]
            try:
                status, payload = 200, {"results": answer(self.path, body)}
            except Exception as exc:
                status, payload = 500, {"error": type(exc).__name__}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # 128 clients connect at once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", required=True)
    parser.add_argument("--embed-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--texts", type=Path, required=True, help="JSON list of texts")
    parser.add_argument("--vectors", type=Path, required=True, help="JSON list of embeddings")
    parser.add_argument("--memories", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--maxconn", type=int, default=10)
    args = parser.parse_args()
    m = memory(args.pg, args.embed_url, "mem0_load", maxconn=args.maxconn)
    fill(
        m,
        args.user,
        json.loads(args.texts.read_text()),
        json.loads(args.vectors.read_text()),
        args.memories,
    )
    server = Server(("127.0.0.1", args.port), handler_for(m))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
