"""Dynamic batching with a bounded queue.

Requests wait in one queue of at most ``queue_size`` images (a request beyond it is refused at
once: :class:`OverloadedError`, the service's 503). One worker thread takes the oldest request and,
for up to ``max_wait_ms``, the next ones that can share its forward pass (same options and
same letterboxed input shape, so that no image gets padding it would not get alone) until it
holds ``max_batch``; it runs them as one batch and hands each request its own result. The
others wait their turn in arrival order. Tiled requests run alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Run = Callable[[list[np.ndarray], Any], list[Any]]


class OverloadedError(Exception):
    """The queue is full: retry later."""


@dataclass(eq=False)  # a job is itself: never compared by its fields (an image among them)
class _Job:
    image: np.ndarray
    options: Any
    key: Hashable
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    queued: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class BatchStats:
    """What one batch was: its size and each request's wait in the queue (seconds)."""

    size: int
    waits: list[float]


class Batcher:
    """``await batcher.submit(image, options, key)``: the result of ``run([images], options)``
    for this image, run with the other queued requests of the same ``key`` (module docstring).

    Args:
        run: runs a batch (a list of images, their shared options) and returns one result
            per image; called on the worker thread only.
        max_batch: images per forward pass (1: no batching).
        max_wait_ms: how long the first request of a batch waits for more.
        queue_size: requests waiting at most (beyond it: :class:`OverloadedError`).
        queue_bytes: decoded images waiting, in bytes, at most (beyond it, unless the queue
            is empty: :class:`OverloadedError`), so that memory is bounded by bytes too.
        on_batch: called after each batch with its :class:`BatchStats` (metrics).
    """

    def __init__(
        self,
        run: Run,
        *,
        max_batch: int = 8,
        max_wait_ms: float = 5.0,
        queue_size: int = 64,
        queue_bytes: int = 1 << 30,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        if max_batch < 1 or queue_size < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and queue_size must be >= 1, max_wait_ms >= 0")
        self.run, self.on_batch = run, on_batch
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.queue_size, self.queue_bytes = queue_size, queue_bytes
        self._bytes = 0  # of the decoded images waiting
        self._jobs: collections.deque[_Job] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="yolov9-batcher", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the worker thread runs (it is built never to stop before :meth:`close`)."""
        return self._thread.is_alive()

    @property
    def depth(self) -> int:
        """Requests waiting (not yet running)."""
        return len(self._jobs)

    async def submit(self, image: np.ndarray, options: Any, key: Hashable) -> Any:
        """This image's result; raises :class:`OverloadedError` at once when the queue is full,
        and whatever ``run`` raised for its batch."""
        loop = asyncio.get_running_loop()
        job = _Job(image, options, key, loop.create_future(), loop)
        with self._ready:
            if self._closed:
                raise OverloadedError("the service is shutting down")
            if len(self._jobs) >= self.queue_size:
                raise OverloadedError(f"{len(self._jobs)} requests queued (the limit)")
            if self._bytes + job.image.nbytes > self.queue_bytes and self._jobs:
                raise OverloadedError(f"{self._bytes >> 20} MB of images queued (the limit)")
            self._bytes += job.image.nbytes
            self._jobs.append(job)
            self._ready.notify()
        return await job.future

    def close(self) -> None:
        """Stop the worker after the batch it runs; waiting requests get
        :class:`OverloadedError`."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=30)
        while self._jobs:
            job = self._jobs.popleft()
            _settle(job, error=OverloadedError("the service is shutting down"))

    def _take(self) -> list[_Job] | None:
        """The next batch: the oldest job and, until the deadline or ``max_batch``, the
        queued jobs of its key (in arrival order); None once closed."""
        with self._ready:
            while not self._jobs and not self._closed:
                self._ready.wait()
            if self._closed:
                return None
            first = self._jobs.popleft()
            self._bytes -= first.image.nbytes
            batch = [first]
            deadline = time.perf_counter() + self.max_wait
            while len(batch) < self.max_batch:
                same = [j for j in self._jobs if j.key == first.key][: self.max_batch - len(batch)]
                for job in same:
                    self._jobs.remove(job)
                    self._bytes -= job.image.nbytes
                batch += same
                left = deadline - time.perf_counter()
                if len(batch) >= self.max_batch or left <= 0:
                    break
                self._ready.wait(timeout=left)
            return batch

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            started = time.perf_counter()
            try:
                results = self.run([j.image for j in batch], batch[0].options)
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} images")
            except Exception as e:  # the batch's requests get the error; the worker goes on
                log.exception("a batch of %d failed", len(batch))
                for job in batch:
                    _settle(job, error=e)
            else:
                for job, result in zip(batch, results, strict=True):
                    _settle(job, result=result)
            if self.on_batch is not None:
                try:
                    self.on_batch(BatchStats(len(batch), [started - j.queued for j in batch]))
                except Exception:
                    log.exception("recording a batch failed")


def _settle(job: _Job, *, result: Any = None, error: BaseException | None = None) -> None:
    """Hand the job's waiting request its result or error, on the request's event loop."""

    def settle() -> None:
        if job.future.done():  # the client went away
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
        job.loop.call_soon_threadsafe(settle)
