"""A search server running in this process, and GET requests to it."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request

# A document whose text and id hold markup: the page must show it, escaped.
MARKUP = {
    "id": "x<1>",
    "text": "<script>alert(1)</script> the castle & the tower",
    "mentions": [["castle", "b"], ["tower", "b"]],
}


@contextlib.contextmanager
def running(retriever, **config):
    """A SearchServer on a free loopback port, serving from a thread until the block ends."""
    from ner_jax.serve import SearchServer, ServeConfig

    server = SearchServer(retriever, ServeConfig(port=0, **config))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.close()


def get(url: str, timeout: float = 60) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(url: str) -> tuple[int, dict]:
    status, _, body = get(url)
    return status, json.loads(body)
