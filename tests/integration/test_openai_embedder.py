"""OpenAIEmbedder against a real HTTP server on 127.0.0.1 speaking the embeddings API.

The real ``openai`` client does the HTTP; only the server side is fake. It needs no
PostgreSQL, so it is not marked ``integration``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from mem0stack_server.embed import EmbedderError, OpenAIEmbedder, create_embedder

DIM = 16


def fake_vector(text: str, dim: int = DIM) -> list[float]:
    """Deterministic, unnormalised vector derived from the text."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return [float(x) for x in np.random.default_rng(seed).normal(size=dim) * 3.0]


def unit(values: list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return (array / np.linalg.norm(array)).astype(np.float32)


@dataclass
class FakeEmbeddingServer:
    """Minimal HTTP/1.1 server implementing ``POST /v1/embeddings``.

    ``mode`` picks the behaviour: ok, shuffle, wrong_dim, nan, error500, short,
    duplicate_index, base64, slow.
    """

    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: serve requests until the client hangs up
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, extra, payload = await self._respond(method, path, body)
                writer.write(
                    (
                        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(payload)}\r\n{extra}\r\n"
                    ).encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # client hung up, or the test loop is shutting down
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, body: bytes) -> tuple[str, str, bytes]:
        if method != "POST" or path != "/v1/embeddings":
            return "404 Not Found", "", b'{"error": {"message": "no such route"}}'
        request = json.loads(body)
        self.requests.append(request)
        if self.mode == "error500":
            # Tell the client to retry almost at once, so the test stays fast.
            error = b'{"error": {"message": "model crashed", "type": "server_error"}}'
            return "500 Internal Server Error", "retry-after-ms: 1\r\n", error
        if self.mode == "slow":
            await asyncio.sleep(1.0)
        texts: list[str] = request["input"]
        dim = request.get("dimensions", DIM)
        if self.mode == "wrong_dim":
            dim += 1
        items: list[dict[str, Any]] = []
        for index, text in enumerate(texts):
            vector: Any = fake_vector(text, dim)
            if self.mode == "nan" and index == len(texts) - 1:
                vector[0] = math.nan
            if self.mode == "base64":
                vector = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            items.append({"object": "embedding", "index": index, "embedding": vector})
        if self.mode == "shuffle":
            items.reverse()
            items = items[1::2] + items[0::2]
        if self.mode == "short":
            items = items[:-1]
        if self.mode == "duplicate_index":
            items[-1]["index"] = 0
        reply = {
            "object": "list",
            "model": request["model"],
            "data": items,
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
        return "200 OK", "", json.dumps(reply).encode()  # NaN is written as the bare NaN


@pytest_asyncio.fixture(loop_scope="session")
async def fake_server() -> AsyncIterator[FakeEmbeddingServer]:
    srv = FakeEmbeddingServer()
    await srv.start()
    yield srv
    await srv.stop()


def make(fake_server: FakeEmbeddingServer, **overrides: Any) -> OpenAIEmbedder:
    options: dict[str, Any] = {
        "model": "fake-embed",
        "base_url": fake_server.base_url,
        "api_key": "test-key",
        "dimensions": DIM,
        "timeout_s": 5.0,
        "max_retries": 2,
        "batch_size": 4,
        "cache_size": 8,
    }
    options.update(overrides)
    return OpenAIEmbedder(**options)


TEXTS = [f"memory number {i}" for i in range(10)]


async def test_vectors_order_and_batches(fake_server: FakeEmbeddingServer) -> None:
    emb = make(fake_server)
    try:
        vectors = await emb.embed(TEXTS)
    finally:
        await emb.aclose()
    assert vectors.shape == (10, DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(vectors[i], unit(fake_vector(text)), atol=1e-6)
    # batch_size 4: 4 + 4 + 2 inputs, each request asking for floats and the width.
    assert sorted(len(r["input"]) for r in fake_server.requests) == [2, 4, 4]
    assert all(r["dimensions"] == DIM for r in fake_server.requests)
    assert all(r["encoding_format"] == "float" for r in fake_server.requests)
    assert all(r["model"] == "fake-embed" for r in fake_server.requests)


async def test_order_preserved_when_server_shuffles(fake_server: FakeEmbeddingServer) -> None:
    fake_server.mode = "shuffle"
    emb = make(fake_server, batch_size=10)
    try:
        vectors = await emb.embed(TEXTS)
    finally:
        await emb.aclose()
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(vectors[i], unit(fake_vector(text)), atol=1e-6)


async def test_base64_reply_is_decoded(fake_server: FakeEmbeddingServer) -> None:
    fake_server.mode = "base64"
    emb = make(fake_server)
    try:
        vectors = await emb.embed(TEXTS[:3])
    finally:
        await emb.aclose()
    np.testing.assert_allclose(vectors[2], unit(fake_vector(TEXTS[2])), atol=1e-6)


async def test_dimensions_not_sent_unless_configured(fake_server: FakeEmbeddingServer) -> None:
    emb = make(fake_server, dimensions=DIM, send_dimensions=False)
    try:
        await emb.embed(["a", "b"])
    finally:
        await emb.aclose()
    assert "dimensions" not in fake_server.requests[-1]


async def test_empty_string_and_cache(fake_server: FakeEmbeddingServer) -> None:
    emb = make(fake_server)
    try:
        first = await emb.embed_one("")
        again = await emb.embed_one("")
        empty = await emb.embed([])
    finally:
        await emb.aclose()
    assert fake_server.requests[0]["input"] == [" "]  # OpenAI refuses "", a space is accepted
    assert len(fake_server.requests) == 1  # the second call was a cache hit
    np.testing.assert_array_equal(first, again)
    assert empty.shape == (0, DIM)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("wrong_dim", "17 dimensions"),
        ("nan", "NaN"),
        ("short", "returned 3 embeddings for 4 inputs"),
        ("duplicate_index", "index"),
    ],
)
async def test_bad_replies_raise(fake_server: FakeEmbeddingServer, mode: str, message: str) -> None:
    fake_server.mode = mode
    emb = make(fake_server)
    try:
        with pytest.raises(EmbedderError, match=message):
            await emb.embed(TEXTS[:4])
    finally:
        await emb.aclose()


async def test_server_error_after_retries(fake_server: FakeEmbeddingServer) -> None:
    fake_server.mode = "error500"
    emb = make(fake_server, max_retries=2)
    try:
        with pytest.raises(EmbedderError, match=r"HTTP 500.*model crashed"):
            await emb.embed_one("hello")
    finally:
        await emb.aclose()
    assert len(fake_server.requests) == 3  # first try + 2 retries


async def test_timeout(fake_server: FakeEmbeddingServer) -> None:
    fake_server.mode = "slow"
    emb = make(fake_server, timeout_s=0.2, max_retries=0)
    try:
        with pytest.raises(EmbedderError, match="timed out"):
            await emb.embed_one("hello")
    finally:
        await emb.aclose()


async def test_unreachable_endpoint() -> None:
    # Bind then release a port, so nothing listens there.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    emb = create_embedder(
        "openai",
        model="fake-embed",
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=None,
        dimensions=DIM,
        timeout_s=2.0,
        batch_size=8,
        cache_size=0,
        max_retries=0,
    )
    try:
        with pytest.raises(EmbedderError, match="cannot reach"):
            await emb.embed_one("hello")
    finally:
        await emb.aclose()
    with pytest.raises(EmbedderError, match="closed"):
        await emb.embed_one("hello")
