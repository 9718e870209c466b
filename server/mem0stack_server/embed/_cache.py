"""A small LRU cache of single-text embeddings.

Search queries repeat (the same user asks the same thing, retries, pagination), and
embedding one costs milliseconds locally or a network round trip remotely, so the last
few thousand query vectors are kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

#: Told ``True`` for every cache hit and ``False`` for every miss; see set_cache_observer.
CacheObserver = Callable[[bool], None]
_observer: CacheObserver | None = None


def set_cache_observer(observer: CacheObserver | None) -> None:
    """Report every lookup in every enabled cache of this process to ``observer``."""
    global _observer
    _observer = observer


def _tell(hit: bool) -> None:
    observer = _observer
    if observer is not None:
        observer(hit)


class VectorCache:
    """LRU map from text to a vector. ``capacity`` 0 disables it.

    Only touched from the event loop thread, so it needs no lock.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("cache capacity must be >= 0")
        self.capacity = capacity
        self._items: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, text: str) -> npt.NDArray[np.float32] | None:
        """The cached vector for ``text`` (a private copy), or ``None``."""
        if self.capacity == 0:
            return None
        vector = self._items.get(text)
        if vector is None:
            self.misses += 1
            _tell(False)
            return None
        self._items.move_to_end(text)
        self.hits += 1
        _tell(True)
        # A copy, so a caller that scales or edits its vector in place cannot
        # corrupt what later callers get.
        return vector.copy()

    def put(self, text: str, vector: npt.NDArray[np.float32]) -> None:
        """Remember ``vector`` for ``text``, evicting the least recently used entry."""
        if self.capacity == 0:
            return
        stored = np.array(vector, dtype=np.float32, copy=True)
        stored.setflags(write=False)
        self._items[text] = stored
        self._items.move_to_end(text)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        self._items.clear()
