"""In-process embedder: all-MiniLM-L6-v2 (int8 ONNX) on the CPU, no network needed.

Two ONNX sessions are built from the one bundled model file:

- documents (:meth:`LocalOnnxEmbedder.embed`, :meth:`~LocalOnnxEmbedder.embed_one`) run
  the model as shipped: int8 weights dequantized to float, float compute, on all cores
  (up to 4). Every stored vector comes from here, so stored vectors, the model id and
  dedup are exactly what they were before the query path existed.
- search queries (:meth:`~LocalOnnxEmbedder.embed_query`) run the graph rewritten by
  :mod:`._int8_graph`: the same int8 weights and scales, but the weight MatMuls compute
  in int8 with the activations quantized per run. On the 2-core AVX512-VNNI target a
  short query takes ~2.0-2.3 ms on one thread instead of ~3.9-4.1 ms on two, leaving
  the other core to PostgreSQL and gRPC. The vectors are an approximation of the
  document ones (cosine median 0.993, min 0.977 over 3,435 LoCoMo turns) and LoCoMo
  vector-only recall@10 did not drop (0.531 float queries, 0.538 int8 queries, float
  documents). Queries have their own worker thread and cache, so a search never waits
  behind a document batch of an ingest (median query during an ingest: ~150 ms on the
  shared thread, ~4 ms on its own), and the two kinds of vector are never mixed up.
  The second session costs ~30 MB of resident memory and ~0.1 s of start-up.

  Which integer kernel computes them depends on the CPU (see :mod:`._int8_graph`): on
  x86 without VNNI the rewrite keeps its weights unsigned so that no sum saturates,
  and every CPU computes the same query vectors (query time on each kind of CPU is in
  docs/benchmarks.md). As a last guard, at start-up both sessions embed a few probe
  sentences, and when the int8 vectors fall below ``MIN_PROBE_COSINE`` of the float
  ones, queries stay on the float path (logged as a warning).
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._batcher import BatcherStats, MicroBatcher
from ._cache import VectorCache
from ._gather_graph import lean_model
from ._int8_graph import int8_matmul_model, int8_products_saturate
from ._onnx_model import (
    MAX_SEQ_LENGTH,
    OnnxSentenceModel,
    bundled_model_file,
    bundled_tokenizer_file,
    verify_model_file,
)
from .base import EmbedderConfigError, EmbedderError, Vectors, check_texts

log = logging.getLogger(__name__)

#: Model id stored with every vector this embedder makes (the package's MODEL_ID).
LOCAL_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"

#: Texts per model call. 64 amortises the fixed per-run cost (per-sentence time is
#: flat from ~32 up) while keeping one batch of short texts around 0.2 s.
DEFAULT_MAX_BATCH_TEXTS = 64
#: Characters per model call (~1000 English tokens, ~0.2 s on 2 cores): bounds how long
#: a query can wait behind a batch of long texts. Per-token cost is flat from ~256
#: tokens per call up, so the bound costs no throughput.
DEFAULT_MAX_BATCH_CHARS = 4096
#: Sentences both sessions embed at start-up, and the cosine every int8 vector must
#: reach against its float twin for queries to use int8 compute (on the VNNI target the
#: lowest is 0.970, for "ok": short inputs drift most; the others are 0.990-0.996).
PROBE_SENTENCES = (
    "ok",
    "What did Melanie paint last summer?",
    "I moved to Berlin in 2021 and started working as a nurse at the Charité.",
    "Prefers window seats on long flights, aisle seats on short ones.",
    "¿Dónde vive tu hermana ahora?",
    "東京で新しい仕事を始めました。",
    "Allergic to peanuts; carries an EpiPen.",
    "remind me to call mom on sunday",
)
MIN_PROBE_COSINE = 0.95
#: Threads of one query run. Measured on the 2-core target (median of 900 LoCoMo
#: questions): int8 compute took 2.33 ms on 1 thread and 2.55 ms on 2, so splitting one
#: short input costs more than it saves. One thread also leaves a core to the rest.
DEFAULT_QUERY_INTRA_OP_THREADS = 1


class LocalOnnxEmbedder:
    """Embeds on the CPU with the int8 ONNX export of all-MiniLM-L6-v2 (384 dimensions).

    Loading (in the constructor) checks the model's sha256, builds the ONNX sessions and
    does one warm-up run each, under a second; build it once at start-up. Document
    inference runs on one dedicated thread, query inference (:meth:`embed_query`) on
    another; on each, concurrent calls are coalesced into shared batches. Single-text
    calls go through an LRU cache of ``cache_size`` entries (0 disables it), one for
    documents and one for queries.

    ``int8_queries=False`` makes :meth:`embed_query` the same as :meth:`embed_one` (no
    second session or thread). With ``True`` but a model the int8 rewrite does not
    apply to, the embedder falls back to that too and logs it once: at WARNING for the
    bundled model (the package changed, and search is slower than documented), at INFO
    for a ``model_path`` of the caller's (expected for a float export; nothing to fix).
    :attr:`int8_queries` tells which happened.
    """

    def __init__(
        self,
        *,
        cache_size: int = 1024,
        max_batch_texts: int = DEFAULT_MAX_BATCH_TEXTS,
        max_batch_chars: int = DEFAULT_MAX_BATCH_CHARS,
        max_seq_length: int = MAX_SEQ_LENGTH,
        intra_op_threads: int | None = None,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        verify_sha256: bool = True,
        int8_queries: bool = True,
        query_intra_op_threads: int = DEFAULT_QUERY_INTRA_OP_THREADS,
    ) -> None:
        bundled = model_path is None
        if model_path is None:
            model_path, sha256, size = bundled_model_file()
            if verify_sha256:
                verify_model_file(model_path, sha256, size)
            self.model = LOCAL_MODEL_ID
        else:
            # Some other export: name it by its file so its vectors are never mixed
            # with the bundled model's.
            self.model = f"onnx:{model_path.name}"
        tokenizer_path = tokenizer_path or bundled_tokenizer_file()
        self._model = OnnxSentenceModel(
            # The same vectors, bit for bit, with the word embedding table kept int8: 35 MB
            # less resident memory (see ._gather_graph).
            lean_model(model_path),
            tokenizer_path,
            label=str(model_path),
            max_seq_length=max_seq_length,
            intra_op_threads=intra_op_threads,
        )
        self.dimension = self._model.dimension
        self.intra_op_threads = self._model.intra_op_threads
        self._cache = VectorCache(cache_size)
        self._batcher = MicroBatcher(
            self._model.encode,
            max_batch_texts=max_batch_texts,
            max_batch_chars=max_batch_chars,
            thread_name="embed-onnx",
        )
        query_model = None
        if int8_queries:
            query_model = self._load_query_model(
                model_path,
                tokenizer_path,
                max_seq_length=max_seq_length,
                intra_op_threads=query_intra_op_threads,
                bundled=bundled,
            )
        #: Whether :meth:`embed_query` runs the int8-compute model (else it is embed_one).
        self.int8_queries = query_model is not None
        #: Whether that model keeps its weights as uint8 (this CPU's int8 kernel saturates).
        self.unsigned_query_weights = self.int8_queries and int8_products_saturate()
        self.query_intra_op_threads = query_model.intra_op_threads if query_model else 0
        self._query_cache = VectorCache(cache_size if query_model else 0)
        # One query per run: activations are quantized per run, so a batch would make a
        # query's vector depend on the queries that happened to share it.
        self._query_batcher = (
            MicroBatcher(
                query_model.encode,
                max_batch_texts=1,
                max_batch_chars=max_batch_chars,
                thread_name="embed-query",
            )
            if query_model
            else None
        )
        self._closed = False
        _return_freed_memory()

    def _load_query_model(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        max_seq_length: int,
        intra_op_threads: int,
        bundled: bool,
    ) -> OnnxSentenceModel | None:
        """The int8-compute model for queries, or ``None`` (logged) if it cannot be had."""
        unsigned = int8_products_saturate()
        try:
            model = OnnxSentenceModel(
                int8_matmul_model(model_path, unsigned_weights=unsigned),
                tokenizer_path,
                max_seq_length=max_seq_length,
                intra_op_threads=intra_op_threads,
                label=f"{model_path} (int8 MatMul rewrite)",
            )
            if model.dimension != self.dimension:
                raise EmbedderConfigError(
                    f"the int8 rewrite of {model_path} gives {model.dimension} dimensions, "
                    f"the model {self.dimension}"
                )
            agreement = min(
                float(model.encode([probe])[0] @ self._model.encode([probe])[0])
                for probe in PROBE_SENTENCES
            )
            if agreement < MIN_PROBE_COSINE:
                raise EmbedderConfigError(
                    f"int8 compute strays too far from float on this CPU (probe cosine "
                    f"{agreement:.3f} < {MIN_PROBE_COSINE})"
                )
        except EmbedderConfigError as exc:
            log.log(
                logging.WARNING if bundled else logging.INFO,
                "search queries use the float model, not int8 compute: %s",
                exc,
            )
            return None
        log.info(
            "search queries compute in int8 (%s)",
            "uint8 weights: this CPU's uint8 x int8 kernel saturates, as x86 without VNNI does"
            if unsigned
            else "int8 weights",
        )
        return model

    def forget_cached(self) -> None:
        """Drop every cached vector (see :meth:`Embedder.forget_cached`)."""
        self._cache.clear()
        self._query_cache.clear()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``; ``(len(texts), dimension)`` float32, unit rows, input order."""
        items = check_texts(texts)
        if self._closed:
            raise EmbedderError("embedder is closed")
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(items) == 1:
            single: Vectors = (await self.embed_one(items[0]))[None, :]
            return single
        return await self._batcher.embed(items)

    async def embed_one(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one text (cached); shape ``(dimension,)``."""
        return await self._single(text, self._batcher, self._cache)

    async def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector to search with for ``text``; shape ``(dimension,)``, unit length.

        With :attr:`int8_queries` it comes from the int8-compute model, on its own
        thread and cache (see the module doc): close to, not equal to,
        ``embed_one(text)``. Otherwise it is ``embed_one(text)``.
        """
        if self._query_batcher is None:
            return await self.embed_one(text)
        return await self._single(text, self._query_batcher, self._query_cache)

    async def _single(
        self, text: str, batcher: MicroBatcher, cache: VectorCache
    ) -> npt.NDArray[np.float32]:
        """One text through ``cache``, else through ``batcher``'s model."""
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, expected str")
        if self._closed:
            raise EmbedderError("embedder is closed")
        cached = cache.get(text)
        if cached is not None:
            return cached
        vector: npt.NDArray[np.float32] = (await batcher.embed([text]))[0]
        cache.put(text, vector)
        return vector

    def stats(self) -> dict[str, int]:
        """Counters for metrics: model calls, texts embedded, cache hits and misses.

        The ``query_`` keys count :meth:`embed_query`'s own model and cache; they stay 0
        when queries share the document path (``query_int8`` 0), whose counters then
        include the queries.
        """
        batcher = self._batcher.stats
        query = self._query_batcher.stats if self._query_batcher else BatcherStats()
        return {
            "batches": batcher.batches,
            "requests": batcher.requests,
            "texts": batcher.texts,
            "largest_batch": batcher.largest_batch,
            "cache_hits": self._cache.hits,
            "cache_misses": self._cache.misses,
            "cache_size": len(self._cache),
            "query_int8": int(self.int8_queries),
            "query_batches": query.batches,
            "query_requests": query.requests,
            "query_texts": query.texts,
            "query_largest_batch": query.largest_batch,
            "query_cache_hits": self._query_cache.hits,
            "query_cache_misses": self._query_cache.misses,
            "query_cache_size": len(self._query_cache),
        }

    async def aclose(self) -> None:
        """Stop the worker threads; queued calls fail with :class:`EmbedderError`."""
        self._closed = True
        self._cache.clear()
        self._query_cache.clear()
        try:
            await self._batcher.aclose()
        finally:
            if self._query_batcher is not None:
                await self._query_batcher.aclose()


def _return_freed_memory() -> None:
    """Hand the heap that model loading freed back to the operating system.

    Loading parses the model into protobuf objects and serializes the int8 rewrite, ~50 MB
    of short-lived buffers; glibc keeps freed heap for reuse, so without this the server
    would carry them for its whole life (measured: 339 MB resident after loading, 292 MB
    after the trim). A no-op where the C library has no ``malloc_trim``.
    """
    # The process's own symbols include the C library's; no library search (which would
    # run ldconfig) is needed.
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
