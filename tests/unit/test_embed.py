"""Unit tests of the embedding layer: the local ONNX embedder and its helpers."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import pytest_asyncio
from onnx import TensorProto, helper, numpy_helper

from mem0stack_server.embed import (
    LOCAL_MODEL_ID,
    Embedder,
    EmbedderConfigError,
    EmbedderError,
    LocalOnnxEmbedder,
    OpenAIEmbedder,
    create_embedder,
)
from mem0stack_server.embed import local as local_module
from mem0stack_server.embed._batcher import split_chunks
from mem0stack_server.embed._cache import VectorCache
from mem0stack_server.embed._int8_graph import (
    int8_matmul_model,
    int8_products_saturate,
    rewrite_weight_matmuls,
)
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


# --- int8 search queries ----------------------------------------------------------------

#: Varied inputs for the int8-vs-float comparison: short and long, several scripts,
#: symbols and code, the empty string and a text filling the 256-token window.
QUERY_SENTENCES = [
    "She drinks coffee every morning",
    "What did Caroline say about the adoption agency last week?",
    "Ich wohne seit zehn Jahren in Hamburg und arbeite als Lehrerin.",
    "Elle préfère le thé vert au café.",
    "東京で寿司を食べるのが好きです。",
    "أحب القراءة في المساء",
    "Я люблю гулять в парке по выходным.",
    "我下周要去北京出差。",
    "",
    "ok",
    "🎉🎂 birthday party at 7pm!!!",
    "def f(x): return x ** 2  # square",
    "Lives in Lisbon with two cats named Pixel and Byte, and works remotely. " * 16,
]


async def test_int8_query_is_close_to_the_document_vector(uncached: LocalOnnxEmbedder) -> None:
    assert uncached.int8_queries
    assert uncached.query_intra_op_threads == 1
    # The long sentence nearly fills the model's window (and is cut at 256 tokens).
    assert len(uncached._model._tokenizer.encode(QUERY_SENTENCES[-1]).ids) >= 230
    documents = await uncached.embed(QUERY_SENTENCES)
    for text, document in zip(QUERY_SENTENCES, documents, strict=True):
        query = await uncached.embed_query(text)
        assert query.shape == (384,)
        assert query.dtype == np.float32
        assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
        # Close, but computed differently (int8): not the document vector itself.
        assert 0.97 <= cosine(query, document) < 0.99999, text


async def test_int8_queries_rank_like_float_queries(uncached: LocalOnnxEmbedder) -> None:
    documents = [
        "She drinks coffee every morning before work",
        "He filed his tax return in April",
        "The user is allergic to peanuts and avoids Thai restaurants",
        "Prefers window seats on long flights",
        "Adopted a rescue dog named Biscuit last spring",
        "Is learning to play the cello with a teacher on Tuesdays",
        "Moved from Lisbon to Berlin for a new job in 2021",
        "Runs a half marathon every October",
    ]
    queries = [
        "what does she drink in the morning",
        "when are taxes due",
        "food allergies",
        "which seat on a plane",
        "does the user have pets",
        "musical instrument lessons",
        "where does the user live now",
        "running races",
        "Welches Haustier hat sie?",
    ]
    stored = await uncached.embed(documents)
    for query in queries:
        by_float = int(np.argmax(stored @ await uncached.embed_one(query)))
        by_int8 = int(np.argmax(stored @ await uncached.embed_query(query)))
        assert by_int8 == by_float, query


async def test_query_cache_is_separate(embedder: LocalOnnxEmbedder) -> None:
    text = "which restaurants does the user avoid"
    before = embedder.stats()
    query = await embedder.embed_query(text)
    again = await embedder.embed_query(text)
    after = embedder.stats()
    np.testing.assert_array_equal(query, again)
    assert after["query_int8"] == 1
    assert after["query_cache_misses"] == before["query_cache_misses"] + 1
    assert after["query_cache_hits"] == before["query_cache_hits"] + 1
    assert after["query_batches"] == before["query_batches"] + 1
    assert after["query_texts"] == before["query_texts"] + 1
    assert after["query_cache_size"] >= 1
    # The document path neither ran nor saw the query.
    for key in ("batches", "texts", "cache_hits", "cache_misses"):
        assert after[key] == before[key], key
    # And the document cache never hands back the query's (int8) vector.
    document = await embedder.embed_one(text)
    assert not np.array_equal(document, query)
    assert embedder.stats()["cache_misses"] == before["cache_misses"] + 1


async def test_flag_off_makes_queries_document_vectors() -> None:
    emb = LocalOnnxEmbedder(cache_size=0, int8_queries=False)
    try:
        assert not emb.int8_queries
        for text in ("where did I park the car", "", "Ich trinke gern Tee."):
            np.testing.assert_array_equal(await emb.embed_query(text), await emb.embed_one(text))
        stats = emb.stats()
        assert stats["query_int8"] == 0
        assert stats["query_batches"] == 0
    finally:
        await emb.aclose()


async def test_query_does_not_wait_for_a_document_batch() -> None:
    # Bounds so large that 1,000 texts make ONE model call of a few seconds: a query on
    # the document thread would have to wait for all of it.
    emb = LocalOnnxEmbedder(cache_size=0, max_batch_texts=100_000, max_batch_chars=10**8)
    try:
        texts = [
            f"note {i}: the user mentioned project {i % 17} during a long call" for i in range(1000)
        ]
        ingest = asyncio.create_task(emb.embed(texts))
        for _ in range(10_000):  # wait until the batch is on the document thread
            if emb.stats()["batches"]:
                break
            await asyncio.sleep(0.001)
        assert emb.stats()["batches"] == 1
        query = await emb.embed_query("what did the user say about project 3")
        assert not ingest.done(), "the query waited for the document batch"
        assert query.shape == (384,)
        assert (await ingest).shape == (1000, 384)
        assert emb.stats()["batches"] == 1
    finally:
        await emb.aclose()


async def test_query_vector_does_not_depend_on_concurrent_queries(
    uncached: LocalOnnxEmbedder,
) -> None:
    # Activations are quantized per model run: were queries batched together, a query's
    # vector would change with whatever other queries shared its run.
    text = "when did Caroline go to the LGBTQ support group?"
    alone = await uncached.embed_query(text)
    others = [f"question number {i} about something else entirely" for i in range(12)]
    together = await asyncio.gather(*(uncached.embed_query(t) for t in [*others, text]))
    np.testing.assert_array_equal(together[-1], alone)


async def test_int8_queries_are_refused_when_they_stray_from_float(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A CPU whose int8 kernels drift (x86 without VNNI) fails the start-up probe; no real
    # CPU here does, so the bar is raised above what any int8 vector reaches.
    monkeypatch.setattr(local_module, "MIN_PROBE_COSINE", 0.9999)
    with caplog.at_level(logging.WARNING, logger="mem0stack_server.embed.local"):
        emb = LocalOnnxEmbedder(cache_size=0)
    try:
        assert not emb.int8_queries
        assert any("strays too far" in r.getMessage() for r in caplog.records)
        text = "where do I keep the spare keys"
        np.testing.assert_array_equal(await emb.embed_query(text), await emb.embed_one(text))
    finally:
        await emb.aclose()


async def test_aclose_stops_both_workers() -> None:
    emb = LocalOnnxEmbedder(cache_size=0)
    existing = set(threading.enumerate())
    await emb.embed_one("start the document worker")
    await emb.embed_query("start the query worker")
    started = [t for t in threading.enumerate() if t not in existing]
    names = sorted(t.name.split("_")[0] for t in started)
    assert names == ["embed-onnx", "embed-query"], names
    await emb.aclose()
    assert not any(t.is_alive() for t in started)
    with pytest.raises(EmbedderError):
        await emb.embed_query("after close")


def test_rewrite_of_the_bundled_model() -> None:
    path, _, _ = bundled_model_file()
    model = onnx.load(str(path))
    scales_before = {i.name for i in model.graph.initializer if i.name.endswith("_scale")}
    assert rewrite_weight_matmuls(model) == 36  # 6 layers x (q, k, v, out, up, down)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("DynamicQuantizeMatMul") == 36
    assert ("com.microsoft", 1) in [(o.domain, o.version) for o in model.opset_import]
    # Every Cast/Mul chain that fed a MatMul is gone, and its float scale with it; the
    # embedding tables (Cast -> Mul -> Gather) are untouched.
    names = {i.name for i in model.graph.initializer}
    left = scales_before & names
    assert left and all("embeddings" in name for name in left), left
    read = {name for node in model.graph.node for name in node.input}
    assert names <= read  # no unused initialiser for ONNX Runtime to warn about


def _tiny_quantized_model(
    *, shared_mul: bool, weight_bound: int = 127
) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """X[2,8] -> MatMul(int8 W1 * s1) -> MatMul(int8 W2 * s2) -> Y[2,3], an input and its
    float result. With ``shared_mul`` the second dequantized weight is also an output.
    Weights are drawn from [-weight_bound, weight_bound]."""
    rng = np.random.default_rng(7)
    w1 = rng.integers(-weight_bound, weight_bound + 1, size=(8, 4)).astype(np.int8)
    w2 = rng.integers(-weight_bound, weight_bound + 1, size=(4, 3)).astype(np.int8)
    s1 = rng.uniform(0.01, 0.02, size=(1, 4)).astype(np.float32)
    s2 = rng.uniform(0.01, 0.02, size=(1, 3)).astype(np.float32)
    x = rng.normal(size=(2, 8)).astype(np.float32)
    expected = (x @ (w1 * s1)) @ (w2 * s2)
    nodes = [
        helper.make_node("Cast", ["w1"], ["w1_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["w1_f", "s1"], ["w1_deq"]),
        helper.make_node("MatMul", ["x", "w1_deq"], ["h"]),
        helper.make_node("Cast", ["w2"], ["w2_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["s2", "w2_f"], ["w2_deq"]),  # scale first: also matched
        helper.make_node("MatMul", ["h", "w2_deq"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])]
    if shared_mul:
        outputs.append(helper.make_tensor_value_info("w2_deq", TensorProto.FLOAT, [4, 3]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        outputs,
        [
            numpy_helper.from_array(a, n)
            for a, n in ((w1, "w1"), (w2, "w2"), (s1, "s1"), (s2, "s2"))
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    return model, x, expected


def _run_tiny(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y, *_) = session.run(None, {"x": x})
    return np.asarray(y)


@pytest.mark.parametrize("unsigned_weights", [False, True])
@pytest.mark.parametrize("shared_mul", [False, True])
def test_rewrite_keeps_results_and_shared_nodes(shared_mul: bool, unsigned_weights: bool) -> None:
    model, x, expected = _tiny_quantized_model(shared_mul=shared_mul)
    assert rewrite_weight_matmuls(model, unsigned_weights=unsigned_weights) == 2
    ops = sorted(node.op_type for node in model.graph.node)
    names = {init.name for init in model.graph.initializer}
    if shared_mul:  # w2_deq is still read (a graph output): its Cast, Mul and scale stay
        assert ops == ["Cast", "DynamicQuantizeMatMul", "DynamicQuantizeMatMul", "Mul"]
        assert "s2" in names and "s1" not in names
    else:
        assert ops == ["DynamicQuantizeMatMul", "DynamicQuantizeMatMul"]
        assert not {"s1", "s2"} & names
    if unsigned_weights:  # uint8 copies; the int8 w2 stays only where its Cast reads it
        assert {"w1_uint8", "w2_uint8"} <= names
        assert "w1" not in names and ("w2" in names) == shared_mul
    y = _run_tiny(model, x)
    if not unsigned_weights and int8_products_saturate():
        # The production probe says this CPU's uint8 x int8 kernel saturates (x86 without
        # VNNI), so production never runs signed weights here (see
        # test_query_model_uses_the_kernel_the_probe_allows): their accuracy is asserted
        # only on CPUs where the probe lets production use them.
        return
    # Only the activations are quantized (to 8 bits): a small relative error.
    assert np.abs(y - expected).max() < 0.03 * np.abs(expected).max()


def test_unsigned_weights_compute_the_same_numbers() -> None:
    # Weights within +-63 saturate no kernel (255 * 63 * 2 < 32767), so both kernels sum
    # exactly and must agree to float rounding on every CPU.
    signed, x, _ = _tiny_quantized_model(shared_mul=False, weight_bound=63)
    unsigned, _, _ = _tiny_quantized_model(shared_mul=False, weight_bound=63)
    rewrite_weight_matmuls(signed)
    rewrite_weight_matmuls(unsigned, unsigned_weights=True)
    np.testing.assert_allclose(_run_tiny(unsigned, x), _run_tiny(signed, x), rtol=1e-5, atol=1e-6)


async def test_query_model_uses_the_kernel_the_probe_allows(embedder: LocalOnnxEmbedder) -> None:
    assert embedder.int8_queries
    assert embedder.unsigned_query_weights == int8_products_saturate()


def test_saturation_probe_is_cached() -> None:
    assert int8_products_saturate() is int8_products_saturate()
    assert int8_products_saturate.cache_info().hits >= 1


def _float_model(path: Path) -> None:
    """A tiny float "sentence model" (embedding lookup + MatMul, no int8 weights)."""
    rng = np.random.default_rng(3)
    table = rng.normal(size=(30522, 8)).astype(np.float32)
    weight = rng.normal(size=(8, 8)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),
            helper.make_node("MatMul", ["tokens", "weight"], ["last_hidden_state"]),
        ],
        "float-only",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["b", "s", 8])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(path))


async def test_model_without_the_pattern_falls_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "float.onnx"
    _float_model(path)
    with pytest.raises(EmbedderConfigError, match="no int8 weight MatMul"):
        int8_matmul_model(path)
    with pytest.raises(EmbedderConfigError, match="cannot read"):
        int8_matmul_model(tmp_path / "missing.onnx")
    with caplog.at_level(logging.INFO, logger="mem0stack_server.embed.local"):
        emb = LocalOnnxEmbedder(cache_size=0, model_path=path)
    try:
        assert emb.model == "onnx:float.onnx"
        assert emb.dimension == 8
        assert not emb.int8_queries
        fallbacks = [r for r in caplog.records if "float model" in r.getMessage()]
        assert len(fallbacks) == 1 and fallbacks[0].levelno == logging.INFO
        text = "falls back to the document vector"
        np.testing.assert_array_equal(await emb.embed_query(text), await emb.embed_one(text))
    finally:
        await emb.aclose()


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
    assert local.int8_queries
    await local.aclose()
    float_queries = create_embedder("local", cache_size=8, int8_queries=False)
    assert isinstance(float_queries, LocalOnnxEmbedder)
    assert not float_queries.int8_queries
    await float_queries.aclose()
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
