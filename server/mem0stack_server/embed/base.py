"""The embedder contract shared by every provider, and its errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

#: A float32 matrix of shape ``(n, dimension)`` whose rows have unit L2 norm.
Vectors = npt.NDArray[np.float32]


class EmbedderError(Exception):
    """The embedding backend failed at run time (endpoint down, bad reply, closed embedder).

    The message is meant for operators: it says which backend failed and why.
    """


class EmbedderConfigError(EmbedderError):
    """The embedder cannot be built from the given configuration (missing model, bad option)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors.

    ``model`` is a stable identifier recorded next to every stored vector, so vectors
    from different models are never compared; ``dimension`` is the vector length.
    """

    model: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``; returns shape ``(len(texts), dimension)``, rows L2-normalised,
        in input order. An empty sequence gives a ``(0, dimension)`` array."""
        ...

    async def embed_one(self, text: str) -> npt.NDArray[np.float32]:
        """Embed a single text exactly as :meth:`embed` would; returns shape ``(dimension,)``."""
        ...

    async def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector to search with for ``text``; shape ``(dimension,)``, unit length.

        May come from a faster approximation of the document embedding (the local
        provider computes queries in int8), so use it only to search stored vectors;
        where the exact document vector is needed (storing, dedup) use :meth:`embed_one`.
        """
        ...

    def forget_cached(self) -> None:
        """Drop every cached vector (and the text it is kept under): a user's erasure must
        leave nothing of what they stored, and the cache does not know whose a text was."""
        ...

    async def aclose(self) -> None:
        """Release threads and connections. Later calls raise :class:`EmbedderError`."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate the caller's input and return it as a list.

    A bare ``str`` is a ``Sequence[str]`` too, and would silently be embedded one
    character at a time, so it is refused.
    """
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of strings, not a single str; use embed_one()")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return items


def l2_normalise(matrix: npt.NDArray[np.floating]) -> Vectors:
    """Return float32 rows scaled to unit length.

    All-zero rows stay zero rather than becoming NaN; callers that cannot accept a
    zero vector check for it themselves.
    """
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: Vectors = rows / np.maximum(norms, np.float32(1e-12))
    return out
