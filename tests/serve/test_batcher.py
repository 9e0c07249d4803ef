"""The micro-batcher with a fake search: batches, the window, overload, time-outs, close."""

from __future__ import annotations

import threading
import time

import pytest

from ner_jax.serve.batcher import MicroBatcher, Overloaded


class Recorder:
    """search_many that records each batch; the first batch waits for `release`."""

    def __init__(self):
        self.batches: list[list[tuple[str, int]]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, descriptions, ks):
        self.batches.append(list(zip(descriptions, ks, strict=True)))
        self.entered.set()
        self.release.wait(30)
        return [[f"{d}@{k}"] for d, k in zip(descriptions, ks, strict=True)]


def holding(max_batch: int, window: float, queue_size: int):
    """(search, batcher, request): the worker busy with that request until search.release."""
    search = Recorder()
    batcher = MicroBatcher(search, max_batch=max_batch, window=window, queue_size=queue_size)
    held = batcher.submit("held", 1)
    assert search.entered.wait(30)
    return search, batcher, held


def test_requests_queued_during_a_batch_form_the_next_one():
    search, batcher, first = holding(max_batch=4, window=0.0, queue_size=16)
    queued = [batcher.submit(name, 2) for name in "bcdef"]
    search.release.set()
    assert first.wait(30) == ["held@1"]
    assert [r.wait(30) for r in queued] == [[f"{n}@2"] for n in "bcdef"]
    batcher.close()
    assert [len(b) for b in search.batches] == [1, 4, 1]
    assert (batcher.batches, batcher.searches) == (3, 6)


def test_a_lone_request_does_not_wait_for_the_window():
    search = Recorder()
    search.release.set()
    batcher = MicroBatcher(search, max_batch=8, window=5.0, queue_size=8)
    started = time.monotonic()
    assert batcher.submit("a", 3).wait(30) == ["a@3"]
    assert time.monotonic() - started < 2.5  # half the window: it did not wait for it
    batcher.close()


def test_several_together_wait_the_window_for_more():
    search, batcher, blocker = holding(max_batch=8, window=1.0, queue_size=8)
    pair = [batcher.submit(n, 1) for n in "ab"]  # queued together while the worker is busy
    search.release.set()
    blocker.wait(30)
    late = batcher.submit("late", 1)  # within the window the pair opened
    for request in [*pair, late]:
        request.wait(30)
    batcher.close()
    assert [len(b) for b in search.batches] == [1, 3]


def test_a_full_queue_refuses():
    search, batcher, held = holding(max_batch=1, window=0.0, queue_size=1)
    waiting = batcher.submit("waiting", 1)
    with pytest.raises(Overloaded, match="1 searches already waiting"):
        batcher.submit("refused", 1)
    search.release.set()
    assert held.wait(30) and waiting.wait(30)
    batcher.close()


def test_a_timed_out_request_is_skipped():
    search, batcher, held = holding(max_batch=4, window=0.0, queue_size=4)
    gone = batcher.submit("gone", 1)
    with pytest.raises(TimeoutError):
        gone.wait(0.05)
    kept = batcher.submit("kept", 1)
    search.release.set()
    assert held.wait(30) == ["held@1"] and kept.wait(30) == ["kept@1"]
    batcher.close()
    assert [d for batch in search.batches for d, _ in batch] == ["held", "kept"]


def test_an_error_reaches_every_request_of_its_batch():
    def broken(descriptions, ks):
        raise RuntimeError("no index")

    batcher = MicroBatcher(broken, max_batch=4, window=0.0, queue_size=4)
    request = batcher.submit("a", 1)
    with pytest.raises(RuntimeError, match="no index"):
        request.wait(30)
    batcher.close()  # the worker survived the error
    assert not batcher.worker.is_alive()


def test_close_finishes_the_queued_requests():
    search = Recorder()
    batcher = MicroBatcher(search, max_batch=2, window=0.0, queue_size=8)
    requests = [batcher.submit(n, 1) for n in "abcde"]
    search.release.set()
    batcher.close()
    assert all(r.done.is_set() for r in requests)
    assert sum(len(b) for b in search.batches) == 5
