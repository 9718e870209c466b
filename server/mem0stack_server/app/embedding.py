"""The embedder as the use cases see it: its failures are UNAVAILABLE errors for callers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from mem0stack_server.domain.errors import Reason, unavailable
from mem0stack_server.embed import Embedder, EmbedderError
from mem0stack_server.obs import tracing


class Embeddings:
    """Embeds documents and queries, reporting backend failures as EMBEDDER_UNAVAILABLE."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.dimension = embedder.dimension

    async def documents(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, as stored (see ``Embedder.embed``)."""
        with (
            tracing.span("embed documents", **{"mem0stack.texts": len(texts)}),
            _unavailable(),
        ):
            return await self.embedder.embed(texts)

    async def query(self, query: str) -> np.ndarray:
        """The vector a search compares stored embeddings with (``Embedder.embed_query``)."""
        with tracing.span("embed query", **{"mem0stack.texts": 1}), _unavailable():
            return await self.embedder.embed_query(query)


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except EmbedderError as exc:
        raise unavailable(Reason.EMBEDDER_UNAVAILABLE, f"embedding failed: {exc}") from exc
