"""Run blocking batch embedding off the event loop, coalescing concurrent callers.

One worker task owns one worker thread and runs one batch at a time. Requests that
arrive while a batch is running wait in a FIFO queue and are merged into the next
batch, up to a bound on texts and on characters. So under load N concurrent
single-query searches cost roughly one model run instead of N, and a bulk import
cannot hold the model for longer than one bounded batch before a query gets its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .base import EmbedderError, Vectors

#: Told ``(seconds, texts)`` after every embedding batch; see :func:`set_batch_observer`.
BatchObserver = Callable[[float, int], None]

_observer: BatchObserver | None = None


def set_batch_observer(observer: BatchObserver | None) -> None:
    """Report the time and size of every embedding batch in this process to ``observer``.

    A batch is one model run of a local embedder or one HTTP request of the OpenAI
    one, failed ones included. Process-wide, like the Prometheus registry it feeds:
    embedders are built in several places (server, CLI, tests, benchmarks) and only
    the server exports metrics, so it installs the observer once rather than every
    constructor taking one, and embed/ stays free of obs/. It may be called on an
    embedding thread, so it must be quick, thread-safe and must not raise. ``None``
    removes it.
    """
    global _observer
    _observer = observer


def report_batch(seconds: float, texts: int) -> None:
    """Tell the observer, if any, about one batch; embedders without a MicroBatcher call it."""
    observer = _observer
    if observer is not None:
        observer(seconds, texts)


#: Characters of one text counted against a batch's budget. Beyond ~1 KiB (~256
#: English tokens) the tokenizer truncates, so a longer text costs no more.
TEXT_CHARS_CAP = 1024


def text_cost(text: str) -> int:
    """Budget units of one text: its length in characters, capped, at least 1."""
    return max(1, min(len(text), TEXT_CHARS_CAP))


def split_chunks(texts: list[str], max_texts: int, max_chars: int) -> Iterator[list[str]]:
    """Cut ``texts`` into consecutive chunks within both bounds (a chunk has >= 1 text)."""
    chunk: list[str] = []
    chars = 0
    for text in texts:
        cost = text_cost(text)
        if chunk and (len(chunk) >= max_texts or chars + cost > max_chars):
            yield chunk
            chunk, chars = [], 0
        chunk.append(text)
        chars += cost
    if chunk:
        yield chunk


@dataclass(eq=False)
class _Request:
    texts: list[str]
    cost: int
    future: asyncio.Future[Vectors]


@dataclass
class BatcherStats:
    """Counters for metrics and tests."""

    batches: int = 0  # blocking calls made (each may merge several requests)
    requests: int = 0  # chunks submitted by callers
    texts: int = 0
    largest_batch: int = 0


class MicroBatcher:
    """Serialises calls to a blocking ``run_batch(texts) -> vectors`` on one thread.

    Bound to one event loop at a time (the one it is first used on); it may move to a
    new loop only after the previous one has closed, as happens between test sessions.
    """

    def __init__(
        self,
        run_batch: Callable[[list[str]], Vectors],
        *,
        max_batch_texts: int,
        max_batch_chars: int,
        thread_name: str = "embed",
    ) -> None:
        if max_batch_texts < 1 or max_batch_chars < 1:
            raise ValueError("batch bounds must be >= 1")
        self._run_batch = run_batch
        self.max_batch_texts = max_batch_texts
        self.max_batch_chars = max_batch_chars
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._pending: deque[_Request] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.stats = BatcherStats()

    async def embed(self, texts: list[str]) -> Vectors:
        """Embed any number of texts, split into bounded chunks, in order."""
        if not texts:
            raise ValueError("embed() needs at least one text")
        parts: list[Vectors] = []
        # Chunks go in one after another, not all at once: a query that arrives
        # mid-import then queues behind one chunk, not behind the whole import.
        for chunk in split_chunks(texts, self.max_batch_texts, self.max_batch_chars):
            parts.append(await self._submit(chunk))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    async def _submit(self, texts: list[str]) -> Vectors:
        if self._closed:
            raise EmbedderError("embedder is closed")
        loop = asyncio.get_running_loop()
        wakeup = self._ensure_worker(loop)
        future: asyncio.Future[Vectors] = loop.create_future()
        self._pending.append(_Request(texts, sum(text_cost(t) for t in texts), future))
        self.stats.requests += 1
        wakeup.set()
        return await future

    def _ensure_worker(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise EmbedderError("embedder is already in use on another running event loop")
            # The old loop is gone, and its worker and queued futures with it.
            self._pending.clear()
            self._loop, self._worker = loop, None
            self._wakeup = asyncio.Event()
        assert self._wakeup is not None
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(), name="embed-batcher")
        return self._wakeup

    def _take_batch(self) -> list[_Request]:
        """Pop queued requests, oldest first, while they fit the bounds.

        The oldest always goes in, so a request is never starved; the queue is not
        reordered, so a small request never jumps ahead of an earlier large one.
        """
        batch: list[_Request] = []
        texts = chars = 0
        while self._pending:
            request = self._pending[0]
            if request.future.done():  # the caller was cancelled while waiting
                self._pending.popleft()
                continue
            fits = (
                texts + len(request.texts) <= self.max_batch_texts
                and chars + request.cost <= self.max_batch_chars
            )
            if batch and not fits:
                break
            batch.append(self._pending.popleft())
            texts += len(request.texts)
            chars += request.cost
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        wakeup = self._wakeup
        assert wakeup is not None
        try:
            while True:
                if not self._pending:
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                batch = self._take_batch()
                if batch:
                    await self._run(loop, batch)
        finally:
            # Cancelled by aclose(), or an unexpected bug: nobody may wait forever.
            self._fail_pending(EmbedderError("embedder is closed"))

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        self.stats.batches += 1
        self.stats.texts += len(texts)
        self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
        try:
            vectors = await loop.run_in_executor(self._executor, self._timed_batch, texts)
        except asyncio.CancelledError:
            for request in batch:
                _fail(request.future, EmbedderError("embedder is closed"))
            raise
        except EmbedderError as exc:
            for request in batch:
                _fail(request.future, exc)
            return
        except Exception as exc:
            error = EmbedderError(f"embedding failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            for request in batch:
                _fail(request.future, error)
            return
        offset = 0
        for request in batch:
            count = len(request.texts)
            if not request.future.done():
                request.future.set_result(vectors[offset : offset + count])
            offset += count

    def _timed_batch(self, texts: list[str]) -> Vectors:
        # Timed on the worker thread: measured on the loop it would include however
        # long the loop took to resume this task, which grows with load.
        started = time.perf_counter()
        try:
            return self._run_batch(texts)
        finally:
            report_batch(time.perf_counter() - started, len(texts))

    def _fail_pending(self, error: EmbedderError) -> None:
        while self._pending:
            _fail(self._pending.popleft().future, error)

    async def aclose(self) -> None:
        """Fail queued requests, stop the worker and wait for the thread to finish."""
        if self._closed:
            return
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker_loop = worker.get_loop()
            if worker_loop is asyncio.get_running_loop():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            elif not worker_loop.is_closed():  # closed from another thread's loop
                worker_loop.call_soon_threadsafe(worker.cancel)
        self._fail_pending(EmbedderError("embedder is closed"))
        # Waits for a run already on the thread; done off the loop since it blocks.
        await asyncio.to_thread(self._executor.shutdown, wait=True)


def _fail(future: asyncio.Future[Vectors], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
