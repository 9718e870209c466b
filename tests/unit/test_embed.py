"""Unit tests of the embedding layer: the local ONNX embedder and its helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from mem0stack_server.embed import (
    LOCAL_MODEL_ID,
    Embedder,
    EmbedderConfigError,
    EmbedderError,
    LocalOnnxEmbedder,
    OpenAIEmbedder,
    create_embedder,
)
from mem0stack_server.embed._batcher import split_chunks
from mem0stack_server.embed._cache import VectorCache
from mem0stack_server.embed._onnx_model import bundled_model_file, verify_model_file
from mem0stack_server.embed._planning import plan_runs

SENTENCES = [
    "She drinks coffee every morning",
    "He filed his tax return in April",
    "The user is allergic to peanuts and avoids Thai restaurants.",
    "Prefers window seats on long flights",
    "Lives in Lisbon with two cats named Pixel and Byte, and works remotely for a "
    "Berlin startup that builds tools for accountants.",
    "",
    "ok",
]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def embedder() -> AsyncIterator[LocalOnnxEmbedder]:
    emb = LocalOnnxEmbedder(cache_size=16)
    yield emb
    await emb.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def uncached() -> AsyncIterator[LocalOnnxEmbedder]:
    """Without a cache, so every call reaches the model and the batcher."""
    emb = LocalOnnxEmbedder(cache_size=0, max_batch_texts=8)
    yield emb
    await emb.aclose()


async def test_identity_and_protocol(embedder: LocalOnnxEmbedder) -> None:
    assert embedder.model == LOCAL_MODEL_ID
    assert embedder.dimension == 384
    assert isinstance(embedder, Embedder)


async def test_shape_dtype_and_unit_norm(embedder: LocalOnnxEmbedder) -> None:
    vectors = await embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one = await embedder.embed_one("hello world")
    assert one.shape == (384,)
    assert one.dtype == np.float32


async def test_empty_sequence(embedder: LocalOnnxEmbedder) -> None:
    vectors = await embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


async def test_empty_string_gives_a_vector(embedder: LocalOnnxEmbedder) -> None:
    vector = await embedder.embed_one("")
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


async def test_deterministic(uncached: LocalOnnxEmbedder) -> None:
    first = await uncached.embed(SENTENCES)
    second = await uncached.embed(SENTENCES)
    np.testing.assert_allclose(first, second, atol=1e-6)


async def test_batch_matches_one_by_one(uncached: LocalOnnxEmbedder) -> None:
    # Mixed lengths, so the batch is padded and split into several runs.
    batch = await uncached.embed(SENTENCES)
    for i, text in enumerate(SENTENCES):
        alone = await uncached.embed_one(text)
        assert cosine(batch[i], alone) > 0.999, text


async def test_semantic_sanity(embedder: LocalOnnxEmbedder) -> None:
    query = await embedder.embed_one("what does she drink in the morning")
    docs = await embedder.embed(
        ["She drinks coffee every morning", "He filed his tax return in April"]
    )
    assert cosine(query, docs[0]) > cosine(query, docs[1]) + 0.2


async def test_long_text_is_truncated(uncached: LocalOnnxEmbedder) -> None:
    # "word" is one token: 254 of them plus [CLS] and [SEP] fill the 256-token window,
    # so anything after that cannot change the vector.
    long_vec = await uncached.embed_one("word " * 5000 + "completely different ending")
    window_vec = await uncached.embed_one("word " * 254)
    assert cosine(long_vec, window_vec) > 0.9999
    shorter_vec = await uncached.embed_one("word " * 100 + "completely different ending")
    assert cosine(long_vec, shorter_vec) < 0.9999


async def test_cache_hit_returns_same_vector(embedder: LocalOnnxEmbedder) -> None:
    text = "where did I park the car"
    first = await embedder.embed_one(text)
    hits = embedder.stats()["cache_hits"]
    second = await embedder.embed_one(text)
    assert embedder.stats()["cache_hits"] == hits + 1
    np.testing.assert_array_equal(first, second)
    # Callers get copies: editing one must not poison the cache.
    second *= 0.0
    third = await embedder.embed_one(text)
    np.testing.assert_array_equal(first, third)
    # embed() of a single text shares the cache.
    np.testing.assert_array_equal((await embedder.embed([text]))[0], first)


async def test_concurrent_calls_are_coalesced(uncached: LocalOnnxEmbedder) -> None:
    texts = [f"note number {i}: the user likes {i} kinds of tea" for i in range(24)]
    expected = [await uncached.embed_one(t) for t in texts]
    before = uncached.stats()
    results = await asyncio.gather(*(uncached.embed_one(t) for t in texts))
    after = uncached.stats()
    batches = after["batches"] - before["batches"]
    # 24 single calls with at most 8 texts per batch: 3 batches (not 24).
    assert batches <= 4, after
    assert after["largest_batch"] <= 8
    for got, want in zip(results, expected, strict=True):
        assert cosine(got, want) > 0.999


async def test_big_input_is_split_and_keeps_order(uncached: LocalOnnxEmbedder) -> None:
    texts = [f"memory {i} about project {i % 7}" for i in range(21)]
    before = uncached.stats()["batches"]
    vectors = await uncached.embed(texts)
    assert uncached.stats()["batches"] - before == 3  # 8 + 8 + 5
    assert vectors.shape == (21, 384)
    for i in (0, 9, 20):
        assert cosine(vectors[i], await uncached.embed_one(texts[i])) > 0.999


async def test_cancelled_caller_does_not_disturb_others(uncached: LocalOnnxEmbedder) -> None:
    blocker = asyncio.create_task(uncached.embed([f"filler {i}" for i in range(8)]))
    victim = asyncio.create_task(uncached.embed_one("cancel me"))
    survivor = asyncio.create_task(uncached.embed_one("keep me"))
    await asyncio.sleep(0)
    victim.cancel()
    await blocker
    vector = await survivor
    assert vector.shape == (384,)
    assert victim.cancelled()


async def test_rejects_bare_string(embedder: LocalOnnxEmbedder) -> None:
    with pytest.raises(TypeError):
        await embedder.embed("not a list")
    with pytest.raises(TypeError):
        await embedder.embed(["fine", 3])  # type: ignore[list-item]


async def test_closed_embedder_raises() -> None:
    emb = LocalOnnxEmbedder(cache_size=0)
    assert (await emb.embed_one("warm")).shape == (384,)
    await emb.aclose()
    with pytest.raises(EmbedderError):
        await emb.embed_one("after close")
    await emb.aclose()  # idempotent


def test_usable_from_a_new_event_loop() -> None:
    # The batcher binds to the loop of first use; once that loop has closed (as
    # between asyncio.run() calls) it must start afresh on the next one.
    # Each asyncio.run() in a thread of its own, leaving this thread's loop alone.
    emb = LocalOnnxEmbedder(cache_size=0)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(asyncio.run, emb.embed_one("loop one")).result()
        second = pool.submit(asyncio.run, emb.embed_one("loop one")).result()
        pool.submit(asyncio.run, emb.aclose()).result()
    assert cosine(first, second) > 0.9999


def test_model_file_is_verified(tmp_path: Path) -> None:
    path, sha256, size = bundled_model_file()
    verify_model_file(path, sha256, size)  # the installed model is intact
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"x" * size)
    with pytest.raises(EmbedderConfigError, match="sha256"):
        verify_model_file(fake, sha256, size)
    with pytest.raises(EmbedderConfigError, match="bytes"):
        verify_model_file(fake, sha256, size + 1)
    with pytest.raises(EmbedderConfigError):
        verify_model_file(tmp_path / "missing.onnx", sha256, size)
    with pytest.raises(EmbedderConfigError, match="tokenizer"):
        LocalOnnxEmbedder(tokenizer_path=tmp_path / "missing.json")


# --- helpers ---------------------------------------------------------------------------


def test_plan_runs_covers_every_index_once() -> None:
    lengths = [12, 250, 9, 11, 240, 10, 13, 256]
    runs = plan_runs(lengths)
    flat = sorted(i for run in runs for i in run)
    assert flat == list(range(len(lengths)))
    for run in runs:
        assert [lengths[i] for i in run] == sorted(lengths[i] for i in run)
    # Short and long texts are not padded together.
    assert len(runs) >= 2
    assert plan_runs([]) == [[]]
    assert plan_runs([7]) == [[0]]


def test_plan_runs_keeps_similar_lengths_together() -> None:
    assert len(plan_runs([10] * 64)) == 1
    assert len(plan_runs([10, 11, 12, 13])) == 1


def test_split_chunks_respects_both_bounds() -> None:
    texts = ["a" * 10] * 5 + ["b" * 5000] + ["c"] * 3
    chunks = list(split_chunks(texts, max_texts=4, max_chars=1024))
    assert [t for chunk in chunks for t in chunk] == texts
    # The 5000-char text counts as 1024 (it is truncated anyway), so it sits alone.
    assert [len(chunk) for chunk in chunks] == [4, 1, 1, 3]


def test_vector_cache_is_lru() -> None:
    cache = VectorCache(2)
    vec = np.ones(3, dtype=np.float32)
    cache.put("a", vec)
    cache.put("b", vec * 2)
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", vec * 3)
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert len(VectorCache(0)) == 0
    disabled = VectorCache(0)
    disabled.put("a", vec)
    assert disabled.get("a") is None


# --- factory ---------------------------------------------------------------------------


def test_factory_rejects_bad_configuration() -> None:
    with pytest.raises(EmbedderConfigError):
        create_embedder(
            "nope",
            model=None,
            base_url=None,
            api_key=None,
            dimensions=None,
            timeout_s=5,
            batch_size=8,
            cache_size=0,
        )
    with pytest.raises(EmbedderConfigError):
        create_embedder("local", model="some-other-model")
    with pytest.raises(EmbedderConfigError):
        create_embedder("local", dimensions=768)
    with pytest.raises(EmbedderConfigError):
        create_embedder("openai", model=None, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(EmbedderConfigError):  # width of an unknown model must be configured
        create_embedder("openai", model="my-embedder", base_url="http://127.0.0.1:9/v1")


async def test_factory_builds_each_provider() -> None:
    local = create_embedder(
        "local",
        model=LOCAL_MODEL_ID,
        base_url=None,
        api_key=None,
        dimensions=384,
        timeout_s=5,
        batch_size=32,
        cache_size=8,
    )
    assert isinstance(local, LocalOnnxEmbedder)
    await local.aclose()
    remote = create_embedder(
        "OpenAI",
        model="text-embedding-3-small",
        base_url=None,
        api_key="sk-test",
        dimensions=None,
        timeout_s=5,
        batch_size=100,
        cache_size=8,
    )
    assert isinstance(remote, OpenAIEmbedder)
    assert remote.dimension == 1536
    assert isinstance(remote, Embedder)
    await remote.aclose()
