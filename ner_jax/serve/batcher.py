"""Micro-batching: concurrent searches gathered into one forward and one vector search."""

# A description's forward reads every weight up to the tap once, however many rows it has (a
# few tokens each), so a batch of descriptions costs far less than a forward each
# (docs/serve.md). One worker thread runs the batches: while it computes one, the next
# requests queue up, and it takes them all at once. A lone request is not held back: the
# worker waits up to `window` for more only when it already found others queued (there is
# load), never when it found none.

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Sequence

from absl import logging

SearchMany = Callable[[Sequence[str], Sequence[int]], list]  # Retriever.search_many


class Overloaded(Exception):
    """The queue is full: the caller should answer 503 and ask the client to retry."""


@dataclasses.dataclass(eq=False)
class Request:
    """One search waiting for its batch; `wait` returns its hits or raises its error."""

    description: str
    k: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    hits: list | None = None
    error: BaseException | None = None
    abandoned: bool = False  # its caller gave up (time-out): the worker skips it

    def wait(self, timeout: float) -> list:
        """Its hits; TimeoutError after `timeout` seconds (the request is then abandoned)."""
        if not self.done.wait(timeout):
            self.abandoned = True
            raise TimeoutError(f"no result within {timeout:g} s")
        if self.error is not None:
            raise self.error
        return self.hits

    def finish(self, hits: list | None = None, error: BaseException | None = None) -> None:
        self.hits, self.error = hits, error
        self.done.set()


class MicroBatcher:
    """Runs `search_many` on batches of up to `max_batch` queued requests, one batch at a
    time on its own thread; at most `queue_size` requests wait (more: Overloaded)."""

    def __init__(self, search_many: SearchMany, max_batch: int, window: float, queue_size: int):
        if max_batch < 1 or queue_size < 1 or window < 0:
            raise ValueError(f"bad batcher settings: {max_batch=}, {queue_size=}, {window=}")
        self.search_many, self.max_batch, self.window = search_many, max_batch, window
        self.queue: queue.Queue[Request | None] = queue.Queue(maxsize=queue_size)
        self.batches = self.searches = 0  # run so far (/healthz shows them)
        self.worker = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self.worker.start()

    def submit(self, description: str, k: int) -> Request:
        """Queues a search; raises Overloaded if the queue is full."""
        request = Request(description, k)
        try:
            self.queue.put_nowait(request)
        except queue.Full:
            raise Overloaded(f"{self.queue.maxsize} searches already waiting") from None
        return request

    def close(self) -> None:
        """Finishes every queued request, then stops the worker."""
        self.queue.put(None)  # blocks while the queue is full: the worker is emptying it
        self.worker.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._gather()
            batch = [r for r in batch if not r.abandoned]
            if batch:
                self._search(batch)

    def _gather(self) -> tuple[list[Request], bool]:
        """(the next batch, whether close() was called): the first request, whatever else is
        queued, and, if that was more than one, what arrives within the window."""
        first = self.queue.get()
        if first is None:
            return [], True
        batch = [first]
        deadline = None
        while len(batch) < self.max_batch:
            try:
                if deadline is None:
                    item = self.queue.get_nowait()
                else:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                if deadline is not None or len(batch) == 1 or not self.window:
                    break
                deadline = time.monotonic() + self.window  # others came together: wait a bit
                continue
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _search(self, batch: list[Request]) -> None:
        self.batches, self.searches = self.batches + 1, self.searches + len(batch)
        try:
            found = self.search_many([r.description for r in batch], [r.k for r in batch])
        except Exception as error:  # every request of the batch gets the error, none hangs
            logging.exception("search of a batch of %d failed", len(batch))
            for request in batch:
                request.finish(error=error)
            return
        for request, hits in zip(batch, found, strict=True):
            request.finish(hits)
