"""`serve`: open an index read-only, warm it up, answer requests until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

from absl import logging

from ner_jax.index import Retriever
from ner_jax.serve.server import SearchServer, ServeConfig

WARMUP_DESCRIPTION = "river"
WARMUP_WORDS = (1, 2, 3, 4, 6, 8)  # descriptions of these many words cover the usual lengths
POLL_SECONDS = 0.2  # how often the accept loop looks whether a signal asked it to stop


def warm_up(retriever: Retriever, max_batch: int) -> None:
    """Runs batches of 1 to max_batch descriptions of 1 to 8 words once before the first
    user comes: a batch's shape (rows, tokens, texts per row) is bucketed, and each new one
    compiles, which takes seconds. The command line keeps compilations on disk, so only the
    first start on a machine compiles them all."""
    sizes = sorted({min(n, max_batch) for n in (1, 2, 3, 4, 6, 8, 12, 16, max_batch)})
    for size in sizes:
        for words in WARMUP_WORDS:
            retriever.search_many([" ".join([WARMUP_DESCRIPTION] * words)] * size, 10)


def serve(
    directory: str | Path,
    config: ServeConfig | None = None,
    warmup: bool = True,
    started: Callable[[SearchServer], None] | None = None,
) -> None:
    """Serves the index at `directory` until SIGTERM or SIGINT (main thread only), then stops
    accepting, finishes the requests in flight and returns. `started(server)` is called once
    it listens. config: ServeConfig() if None."""
    config = config or ServeConfig()
    with Retriever.load(directory) as retriever:  # the store opens read-only
        if warmup:
            warm_up(retriever, config.max_batch)
        server = SearchServer(retriever, config)
        stopping = threading.Event()

        def stop(signum, frame) -> None:
            del frame
            logging.info("%s: stopping after the requests in flight", signal.Signals(signum).name)
            stopping.set()

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            documents, mentions = server.counts
            logging.info("serving %s (%d documents, %d mentions)", directory, documents, mentions)
            if started is not None:
                started(server)
            # Not serve_forever: its shutdown() must come from another thread, and a thread
            # left waiting in it at exit can abort the interpreter's finalisation.
            server.timeout = POLL_SECONDS
            while not stopping.is_set():
                server.handle_request()
        finally:
            server.close()
            for number, handler in previous.items():
                signal.signal(number, handler)
