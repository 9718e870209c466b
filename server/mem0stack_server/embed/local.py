"""In-process embedder: all-MiniLM-L6-v2 (int8 ONNX) on the CPU, no network needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._batcher import MicroBatcher
from ._cache import VectorCache
from ._onnx_model import (
    MAX_SEQ_LENGTH,
    OnnxSentenceModel,
    bundled_model_file,
    bundled_tokenizer_file,
    verify_model_file,
)
from .base import EmbedderError, Vectors, check_texts

#: Model id stored with every vector this embedder makes (the package's MODEL_ID).
LOCAL_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"

#: Texts per model call. 64 amortises the fixed per-run cost (per-sentence time is
#: flat from ~32 up) while keeping one batch of short texts around 0.2 s.
DEFAULT_MAX_BATCH_TEXTS = 64
#: Characters per model call (~1000 English tokens, ~0.2 s on 2 cores): bounds how long
#: a query can wait behind a batch of long texts. Per-token cost is flat from ~256
#: tokens per call up, so the bound costs no throughput.
DEFAULT_MAX_BATCH_CHARS = 4096


class LocalOnnxEmbedder:
    """Embeds on the CPU with the int8 ONNX export of all-MiniLM-L6-v2 (384 dimensions).

    Loading (in the constructor) checks the model's sha256, builds the ONNX session and
    does one warm-up run, ~0.5 s; build it once at start-up. Inference runs on one
    dedicated thread; concurrent calls are coalesced into shared batches. Single-text
    calls go through an LRU cache of ``cache_size`` entries (0 disables it).
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
    ) -> None:
        if model_path is None:
            model_path, sha256, size = bundled_model_file()
            if verify_sha256:
                verify_model_file(model_path, sha256, size)
            self.model = LOCAL_MODEL_ID
        else:
            # Some other export: name it by its file so its vectors are never mixed
            # with the bundled model's.
            self.model = f"onnx:{model_path.name}"
        self._model = OnnxSentenceModel(
            model_path,
            tokenizer_path or bundled_tokenizer_file(),
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
        self._closed = False

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
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, expected str")
        if self._closed:
            raise EmbedderError("embedder is closed")
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        vector: npt.NDArray[np.float32] = (await self._batcher.embed([text]))[0]
        self._cache.put(text, vector)
        return vector

    def stats(self) -> dict[str, int]:
        """Counters for metrics: model calls, texts embedded, cache hits and misses."""
        batcher = self._batcher.stats
        return {
            "batches": batcher.batches,
            "requests": batcher.requests,
            "texts": batcher.texts,
            "largest_batch": batcher.largest_batch,
            "cache_hits": self._cache.hits,
            "cache_misses": self._cache.misses,
            "cache_size": len(self._cache),
        }

    async def aclose(self) -> None:
        """Stop the worker thread; queued calls fail with :class:`EmbedderError`."""
        self._closed = True
        self._cache.clear()
        await self._batcher.aclose()
