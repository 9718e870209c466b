"""Embedder for any endpoint speaking the OpenAI ``POST /v1/embeddings`` API.

That covers OpenAI itself and self-hosted servers (vLLM, Ollama, LocalAI, TEI, ...).
Replies are checked, not trusted: the count, the order, the width and the values.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._batcher import report_batch
from ._cache import VectorCache
from .base import EmbedderConfigError, EmbedderError, Vectors, check_texts, l2_normalise

# The openai package costs ~26 MiB of resident memory (its many pydantic models) and
# about a second of start-up, and a server on the local embedder never builds this
# one: the functions that need it import it themselves (after the first time, a
# lookup in sys.modules).
if TYPE_CHECKING:
    import openai

#: Native widths of OpenAI's models, used when no dimension is configured.
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}

#: OpenAI accepts up to 2048 inputs per request; smaller requests fail and retry cheaper.
DEFAULT_BATCH_SIZE = 256
MAX_BATCH_SIZE = 2048


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible HTTP endpoint.

    ``dimension`` is the configured ``dimensions`` or, for OpenAI's own models, their
    native width; every reply is checked against it. ``dimensions`` is sent with the
    request only when configured (and ``send_dimensions`` is not False), since servers
    for models without shortening reject it. Transport errors are retried by the
    client (``max_retries``) and then raised as :class:`EmbedderError`.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_concurrency: int = 4,
        cache_size: int = 1024,
        send_dimensions: bool | None = None,
    ) -> None:
        import openai

        if not model:
            raise EmbedderConfigError("the openai embedder needs a model name")
        if dimensions is not None and dimensions < 1:
            raise EmbedderConfigError(f"dimensions must be positive, got {dimensions}")
        dimension = dimensions or KNOWN_DIMENSIONS.get(model)
        if dimension is None:
            raise EmbedderConfigError(
                f"the vector width of model {model!r} is unknown; configure dimensions"
            )
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise EmbedderConfigError(f"batch_size must be 1..{MAX_BATCH_SIZE}, got {batch_size}")
        if timeout_s <= 0 or max_retries < 0 or max_concurrency < 1:
            raise EmbedderConfigError(
                "timeout_s and max_concurrency must be positive, max_retries non-negative"
            )
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if base_url is None:
                raise EmbedderConfigError(
                    "the openai embedder needs an api_key (or OPENAI_API_KEY) for api.openai.com"
                )
            # Self-hosted OpenAI-compatible servers usually ignore the key, but the
            # client insists on one.
            key = "unused"
        self.model = model
        self.dimension = dimension
        self.base_url = base_url
        self.batch_size = batch_size
        self._send_dimensions = (
            dimensions is not None if send_dimensions is None else send_dimensions
        )
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=key, timeout=timeout_s, max_retries=max_retries
        )
        # Bulk imports send several batches at once; the bound keeps one import from
        # opening dozens of connections and tripping the endpoint's rate limits.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._cache = VectorCache(cache_size)
        self._closed = False

    def forget_cached(self) -> None:
        """Drop every cached vector (see :meth:`Embedder.forget_cached`)."""
        self._cache.clear()

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
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        parts = await asyncio.gather(*(self._request(batch) for batch in batches))
        return np.concatenate(parts, axis=0)

    async def embed_one(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one text (cached); shape ``(dimension,)``."""
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, expected str")
        if self._closed:
            raise EmbedderError("embedder is closed")
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        vector: npt.NDArray[np.float32] = (await self._request([text]))[0]
        self._cache.put(text, vector)
        return vector

    async def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector to search with: the same as :meth:`embed_one` (no cheaper variant)."""
        return await self.embed_one(text)

    async def _request(self, texts: list[str]) -> Vectors:
        import openai

        # OpenAI rejects empty strings; a lone space embeds as "nothing" just the same.
        inputs = [text if text else " " for text in texts]
        async with self._slots:
            # Timed inside the slot: waiting for one is queueing here, not the endpoint.
            started = time.perf_counter()
            try:
                response = await self._client.embeddings.create(
                    model=self.model,
                    input=inputs,
                    dimensions=self.dimension if self._send_dimensions else openai.omit,
                    # Floats, not the client's default base64: several compatible
                    # servers cannot produce base64.
                    encoding_format="float",
                )
            except openai.OpenAIError as exc:
                raise EmbedderError(self._describe(exc)) from exc
            except Exception as exc:  # e.g. a reply that is not JSON at all
                raise EmbedderError(
                    f"embedding endpoint {self._where()} failed: {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                report_batch(time.perf_counter() - started, len(texts))
        return self._check_reply(response, len(texts))

    def _check_reply(self, response: object, expected: int) -> Vectors:
        data = getattr(response, "data", None)
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise EmbedderError(
                f"embedding endpoint {self._where()} returned {got} embeddings "
                f"for {expected} inputs"
            )
        rows: list[npt.NDArray[np.float64] | None] = [None] * expected
        for item in data:
            index = getattr(item, "index", None)
            if not isinstance(index, int) or not 0 <= index < expected or rows[index] is not None:
                raise EmbedderError(
                    f"embedding endpoint {self._where()} returned a missing, duplicate or "
                    f"out-of-range index {index!r}"
                )
            rows[index] = self._vector(getattr(item, "embedding", None), index)
        matrix = np.stack([row for row in rows if row is not None])
        if not np.isfinite(matrix).all():
            raise EmbedderError(
                f"embedding endpoint {self._where()} returned NaN or infinite values"
            )
        if (np.linalg.norm(matrix, axis=1) == 0).any():
            raise EmbedderError(f"embedding endpoint {self._where()} returned an all-zero vector")
        return l2_normalise(matrix)

    def _vector(self, raw: object, index: int) -> npt.NDArray[np.float64]:
        if isinstance(raw, str):  # a server that sends base64 even when asked for floats
            try:
                vector = np.frombuffer(base64.b64decode(raw, validate=True), dtype="<f4")
            except (binascii.Error, ValueError) as exc:
                raise EmbedderError(
                    f"embedding endpoint {self._where()} sent undecodable base64 at index {index}"
                ) from exc
        elif isinstance(raw, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw
        ):
            vector = np.asarray(raw, dtype=np.float64)
        else:
            raise EmbedderError(
                f"embedding endpoint {self._where()} sent a non-numeric embedding at index {index}"
            )
        if vector.shape != (self.dimension,):
            hint = (
                "; set dimensions to the model's width (changing it needs a re-embed)"
                if not self._send_dimensions
                else "; the server may ignore the dimensions parameter"
            )
            raise EmbedderError(
                f"embedding endpoint {self._where()} returned {vector.shape[0]} dimensions for "
                f"model {self.model!r}, expected {self.dimension}{hint}"
            )
        return vector.astype(np.float64)

    def _where(self) -> str:
        # The client's resolved URL: it may come from OPENAI_BASE_URL, not from us.
        return str(self._client.base_url).rstrip("/")

    def _describe(self, exc: openai.OpenAIError) -> str:
        import openai

        where = self._where()
        if isinstance(exc, openai.APITimeoutError):
            return f"embedding endpoint {where} timed out (after retries)"
        if isinstance(exc, openai.APIConnectionError):
            # The client's own text is just "Connection error."; the cause says why.
            cause = exc.__cause__ or exc
            return f"cannot reach embedding endpoint {where} (after retries): {_short(str(cause))}"
        if isinstance(exc, openai.AuthenticationError):
            return f"embedding endpoint {where} rejected the api key (401)"
        if isinstance(exc, openai.NotFoundError):
            return (
                f"embedding endpoint {where} answered 404: wrong base_url "
                f"or unknown model {self.model!r}"
            )
        if isinstance(exc, openai.APIStatusError):
            # The client prefixes "Error code: N - "; the server's own words are clearer.
            body = exc.body
            message = body.get("message") if isinstance(body, dict) else None
            detail = _short(message if isinstance(message, str) else exc.message)
            return f"embedding endpoint {where} answered HTTP {exc.status_code}: {detail}"
        return f"embedding endpoint {where} failed: {type(exc).__name__}: {_short(str(exc))}"

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._closed:
            return
        self._closed = True
        self._cache.clear()
        await self._client.close()


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
