"""The HTTP server of an index (JSON search API, search page, health check) and serve()."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import signal
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from absl import logging

from ner_jax.index import Retriever
from ner_jax.serve.batcher import MicroBatcher, Overloaded
from ner_jax.serve.page import SCRIPT, STYLE, render_page

MAX_K = 1000
WARMUP_DESCRIPTION = "river"
WARMUP_WORDS = (1, 2, 3, 4, 6, 8)  # descriptions of these many words cover the usual lengths
POLL_SECONDS = 0.2  # how often the accept loop looks whether a signal asked it to stop


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"  # loopback only, unless the user says otherwise
    port: int = 8080  # 0: any free port (the server's server_port says which)
    max_batch: int = 16  # descriptions embedded in one forward
    window_ms: float = 2.0  # how long a batch waits for more once several came together
    queue_size: int = 64  # searches waiting beyond this get 503
    timeout_s: float = 30.0  # a search not answered in this time gets 504
    # First hits reordered by the model's verdict (Retriever): off by default, since on a CPU
    # it costs seconds a search (docs/serve.md).
    rerank: int = 0
    max_query_chars: int = 500
    title: str = "ner-jax search"


class ServeError(Exception):
    """An answer other than 200: its status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class BadRequest(ServeError):
    """A parameter is missing or out of range (400); the message names it."""

    def __init__(self, message: str):
        super().__init__(HTTPStatus.BAD_REQUEST, message)


class SearchServer(ThreadingHTTPServer):
    """Serves one open Retriever; `close()` after `shutdown()` lets in-flight requests finish."""

    daemon_threads = False  # server_close() joins the request threads: none is cut off
    block_on_close = True
    # The listen backlog (socketserver's default is 5): connections beyond it are dropped
    # and the client's kernel retries after a second, so a burst of clients saw 1-3 s waits.
    request_queue_size = 128

    def __init__(self, retriever: Retriever, config: ServeConfig):
        if ":" in config.host:  # an IPv6 address (socketserver assumes IPv4)
            self.address_family = socket.AF_INET6
        super().__init__((config.host, config.port), SearchHandler)
        self.retriever, self.config = retriever, config
        self.counts = retriever.store.counts()  # (documents, mentions)
        window = config.window_ms / 1000
        self.batcher = MicroBatcher(
            retriever.search_many, config.max_batch, window, config.queue_size
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def close(self) -> None:
        self.server_close()  # waits for the request threads, whose searches still run
        self.batcher.close()


def search_params(query: str, max_chars: int) -> tuple[str, int]:
    """(description, k) of a query string; BadRequest naming the parameter."""
    params = parse_qs(query, keep_blank_values=True)
    description = params.get("q", [""])[0]
    if not description.strip():
        raise BadRequest("q: the type description is empty")
    if len(description) > max_chars:
        raise BadRequest(f"q: the type description is longer than {max_chars} characters")
    raw = params.get("k", ["10"])[0]
    try:
        k = int(raw)
    except ValueError:
        raise BadRequest(f"k: not an integer: {raw[:20]!r}") from None
    if not 1 <= k <= MAX_K:
        raise BadRequest(f"k: must be in [1, {MAX_K}], got {k}")
    return description, k


def _digest(source: str) -> str:
    return base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()


# Only the page's own script and style may run, so markup that escaped escaping could not.
PAGE_POLICY = (
    f"default-src 'none'; script-src 'sha256-{_digest(SCRIPT)}'; "
    f"style-src 'sha256-{_digest(STYLE)}'; connect-src 'self'; form-action 'self'"
)


class SearchHandler(BaseHTTPRequestHandler):
    server: SearchServer
    server_version = "ner-jax"
    # Seconds a connection may stay silent: an idle client must not hold a thread, or the
    # shutdown that waits for the request threads, forever.
    timeout = 60

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        url = urlsplit(self.path)
        routes = {"/api/search": self.api, "/": self.page, "/healthz": self.health}
        if url.path not in routes:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {url.path[:100]}"})
            return
        routes[url.path](url.query)

    def api(self, query: str) -> None:
        try:
            description, k = search_params(query, self.server.config.max_query_chars)
            hits, millis = self.search(description, k)
        except ServeError as error:
            self.send_json(error.status, {"error": str(error)}, error.headers)
            return
        body = {"query": description, "k": k, "hits": [h.as_dict() for h in hits]}
        self.send_json(HTTPStatus.OK, body, {"Server-Timing": f"search;dur={millis:.1f}"})

    def page(self, query: str) -> None:
        title, k = self.server.config.title, _given_k(query)
        if "q" not in parse_qs(query, keep_blank_values=True):
            self.send_page(HTTPStatus.OK, render_page(title, k=k))
            return
        description = parse_qs(query, keep_blank_values=True)["q"][0]
        try:
            description, k = search_params(query, self.server.config.max_query_chars)
            hits, millis = self.search(description, k)
        except ServeError as error:
            page = render_page(title, description, k, error=str(error))
            self.send_page(error.status, page, error.headers)
            return
        self.send_page(HTTPStatus.OK, render_page(title, description, k, hits, millis))

    def health(self, query: str) -> None:
        del query
        documents, mentions = self.server.counts
        batcher = self.server.batcher
        body = {"status": "ok", "documents": documents, "mentions": mentions}
        runs = {"batches": batcher.batches, "searches": batcher.searches}
        self.send_json(HTTPStatus.OK, {**body, **runs})

    def search(self, description: str, k: int) -> tuple[list, float]:
        """(hits, milliseconds) through the micro-batcher; ServeError for 503, 504, 500."""
        started = time.perf_counter()
        try:
            request = self.server.batcher.submit(description, k)
        except Overloaded as error:
            busy = HTTPStatus.SERVICE_UNAVAILABLE
            raise ServeError(busy, f"busy: {error}", {"Retry-After": "1"}) from None
        try:
            hits = request.wait(self.server.config.timeout_s)
        except TimeoutError as error:
            raise ServeError(HTTPStatus.GATEWAY_TIMEOUT, f"timed out: {error}") from None
        except Exception as error:
            raise ServeError(HTTPStatus.INTERNAL_SERVER_ERROR, f"search failed: {error}") from None
        return hits, 1000 * (time.perf_counter() - started)

    def send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send(status, "application/json; charset=utf-8", data, headers)

    def send_page(self, status: int, page: str, headers: dict | None = None) -> None:
        policy = {"Content-Security-Policy": PAGE_POLICY}
        self.send(status, "text/html; charset=utf-8", page.encode(), {**policy, **(headers or {})})

    def send(self, status: int, kind: str, data: bytes, headers: dict | None) -> None:
        self.send_response(status)
        for name, value in {
            "Content-Type": kind,
            "Content-Length": str(len(data)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        logging.debug("%s %s", self.address_string(), format % args)


def _given_k(query: str) -> int:
    """The k to show in the form: the one asked for if it is a valid integer, else 10."""
    try:
        return min(MAX_K, max(1, int(parse_qs(query).get("k", ["10"])[0])))
    except ValueError:
        return 10


def warm_up(retriever: Retriever, max_batch: int) -> None:
    """Runs batches of every size up to max_batch, of descriptions of 1 to 8 words, once
    before the first user comes. Each new shape compiles: the forward's (rows, tokens, texts
    per row, bucketed) and the head's (one per batch size), and a compilation takes a good
    part of a second even when the command line's on-disk cache has it. The verdict's shapes
    (with `rerank`) compile at the first searches instead: they depend on the documents."""
    rerank, retriever.rerank = retriever.rerank, 0
    try:
        for size in range(1, max_batch + 1):
            for words in WARMUP_WORDS:
                retriever.search_many([" ".join([WARMUP_DESCRIPTION] * words)] * size, 10)
    finally:
        retriever.rerank = rerank


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
    with Retriever.load(directory, rerank=config.rerank) as retriever:  # store read-only
        # Bound first, so that a port in use fails at once, not after the warm-up; connections
        # made during the warm-up wait in the backlog.
        server = SearchServer(retriever, config)
        stopping = threading.Event()

        def stop(signum, frame) -> None:
            del frame
            logging.info("%s: stopping after the requests in flight", signal.Signals(signum).name)
            stopping.set()

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            if warmup:
                warm_up(retriever, config.max_batch)
            documents, mentions = server.counts
            if not stopping.is_set():  # not when a signal came during the warm-up
                logging.info(
                    "serving %s (%d documents, %d mentions)", directory, documents, mentions
                )
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
