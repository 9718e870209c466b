"""Text embedding: the :class:`Embedder` contract, its providers and a factory.

``local`` (the default) runs all-MiniLM-L6-v2 in-process on the CPU; ``openai`` calls
any OpenAI-compatible ``/v1/embeddings`` endpoint.
"""

from __future__ import annotations

from .base import Embedder, EmbedderConfigError, EmbedderError, Vectors
from .local import LOCAL_MODEL_ID, LocalOnnxEmbedder
from .openai_embedder import OpenAIEmbedder

__all__ = [
    "LOCAL_MODEL_ID",
    "PROVIDERS",
    "Embedder",
    "EmbedderConfigError",
    "EmbedderError",
    "LocalOnnxEmbedder",
    "OpenAIEmbedder",
    "Vectors",
    "create_embedder",
]

PROVIDERS = ("local", "openai")


def create_embedder(
    provider: str = "local",
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    dimensions: int | None = None,
    timeout_s: float = 30.0,
    batch_size: int = 64,
    cache_size: int = 1024,
    max_retries: int = 2,
    send_dimensions: bool | None = None,
    int8_queries: bool = True,
) -> Embedder:
    """Build the embedder named by ``provider`` ("local" or "openai").

    For ``local``, ``model`` may be omitted or equal to :data:`LOCAL_MODEL_ID`, and
    ``dimensions`` omitted or 384; ``base_url``, ``api_key``, ``timeout_s`` and
    ``max_retries`` do not apply; ``batch_size`` caps texts per model call;
    ``int8_queries`` computes search queries in int8 (see :mod:`.local`). For
    ``openai``, ``model`` is required, ``dimensions`` too unless the model is one of
    OpenAI's own, ``batch_size`` is inputs per HTTP request and ``int8_queries`` does
    not apply. The local model loads here (under a second, blocking), so call this at
    start-up. Raises :class:`EmbedderConfigError` for a bad combination.
    """
    kind = (provider or "local").strip().lower()
    if kind == "local":
        if model not in (None, "", LOCAL_MODEL_ID):
            raise EmbedderConfigError(
                f"the local provider only has model {LOCAL_MODEL_ID!r}, not {model!r}"
            )
        if batch_size < 1 or cache_size < 0:
            raise EmbedderConfigError("batch_size must be >= 1 and cache_size >= 0")
        embedder = LocalOnnxEmbedder(
            cache_size=cache_size, max_batch_texts=batch_size, int8_queries=int8_queries
        )
        if dimensions is not None and dimensions != embedder.dimension:
            raise EmbedderConfigError(
                f"the local model has {embedder.dimension} dimensions, not {dimensions}"
            )
        return embedder
    if kind == "openai":
        if not model:
            raise EmbedderConfigError("the openai provider needs a model name")
        return OpenAIEmbedder(
            model=model,
            base_url=base_url or None,
            api_key=api_key or None,
            dimensions=dimensions,
            timeout_s=timeout_s,
            max_retries=max_retries,
            batch_size=batch_size,
            cache_size=cache_size,
            send_dimensions=send_dimensions,
        )
    raise EmbedderConfigError(f"unknown embedding provider {provider!r}; use one of {PROVIDERS}")
