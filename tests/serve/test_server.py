"""The server over a tiny index: API, page, escaping, health, bad input, overload, time-out."""

from __future__ import annotations

import threading
import time
import urllib.parse

import pytest
from support.served import get, get_json, running

from ner_jax.serve.server import search_params


def test_api_answers_what_the_retriever_finds(retriever):
    with running(retriever) as server:
        status, body = get_json(f"{server.url}/api/search?q=castle&k=3")
    assert status == 200
    assert (body["query"], body["k"]) == ("castle", 3)
    expected = [h.as_dict() for h in retriever.search("castle", 3)]
    assert [h["doc_id"] for h in body["hits"]] == [e["doc_id"] for e in expected]
    for hit, want in zip(body["hits"], expected, strict=True):
        assert set(hit) == {"doc_id", "score", "text", "mentions", "verdict"}  # search --json's
        assert hit["score"] == pytest.approx(want["score"], abs=1e-6)
        assert [m["text"] for m in hit["mentions"]] == [m["text"] for m in want["mentions"]]


def test_page_renders_results_and_escapes_every_text(retriever):
    with running(retriever) as server:
        status, headers, body = get(f"{server.url}/?q=%3Ci%3Ecastle&k=10")
        blank_status, _, blank = get(f"{server.url}/")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<form method="get" action="/"' in page and 'name="q"' in page
    assert "<mark>" in page and 'class="score"' in page and " ms</p>" in page
    assert "x&lt;1&gt;" in page  # the document id
    assert "&lt;script&gt;alert(1)&lt;/script&gt; the " in page and " &amp; the " in page
    assert "<script>alert" not in page and "x<1>" not in page
    assert "&lt;i&gt;castle" in page and "<i>castle" not in page  # the query, echoed
    assert page.count("<script>") == 1  # the page's own
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert blank_status == 200 and 'id="results"></div>' in blank.decode()


def test_health_reports_the_index(retriever):
    with running(retriever) as server:
        status, body = get_json(f"{server.url}/healthz")
    assert status == 200
    assert (body["status"], body["documents"], body["mentions"]) == ("ok", 7, 13)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("q=", "q"),
        ("q=%20%20", "q"),
        ("k=3", "q"),
        ("q=" + "a" * 501, "q"),
        ("q=castle&k=0", "k"),
        ("q=castle&k=1001", "k"),
        ("q=castle&k=ten", "k"),
    ],
)
def test_bad_input_is_400_naming_the_parameter(retriever, query, named):
    with running(retriever) as server:
        status, body = get_json(f"{server.url}/api/search?{query}")
        page_status, _, page = get(f"{server.url}/?{query}")
    assert status == 400 and body["error"].startswith(f"{named}: ")
    if query.startswith("q="):  # without q, the page is the blank form
        assert page_status == 400 and f'class="error">{named}: ' in page.decode()


def test_no_endpoint_reads_a_path(retriever):
    with running(retriever) as server:
        for path in ("/etc/passwd", "/../store.sqlite", "/api/search/../../encoder.json"):
            status, body = get_json(server.url + urllib.parse.quote(path))
            assert status == 404 and "no such endpoint" in body["error"]


def test_search_params_limits():
    assert search_params("q=river", 500) == ("river", 10)
    assert search_params("q=river&k=1000", 500) == ("river", 1000)
    assert search_params("q=%C3%A9t%C3%A9&k=1", 500) == ("été", 1)


class Gated:
    """A retriever whose searches wait until the gate opens (to hold requests in flight)."""

    def __init__(self, retriever):
        self.retriever, self.store = retriever, retriever.store
        self.gate, self.entered = threading.Event(), threading.Event()

    def search_many(self, descriptions, k):
        self.entered.set()
        self.gate.wait(30)
        return self.retriever.search_many(descriptions, k)


def in_thread(function, *args) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(function(*args)))
    thread.start()
    return thread, out


def test_full_queue_is_503_and_the_queued_are_answered(retriever):
    gated = Gated(retriever)
    with running(gated, max_batch=1, queue_size=1) as server:
        url = f"{server.url}/api/search?q=castle&k=2"
        first, first_out = in_thread(get_json, url)  # taken by the worker, held at the gate
        assert gated.entered.wait(30)
        second, second_out = in_thread(get_json, url)  # waits in the queue of 1
        deadline = time.monotonic() + 30
        while server.batcher.queue.qsize() < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, headers, body = get(url)
        gated.gate.set()
        first.join(), second.join()
    assert status == 503 and headers["Retry-After"] == "1" and b'"error": "busy' in body
    assert first_out[0][0] == second_out[0][0] == 200


def test_unanswered_search_is_504(retriever):
    gated = Gated(retriever)
    with running(gated, timeout_s=0.3) as server:
        status, body = get_json(f"{server.url}/api/search?q=castle")
        gated.gate.set()
    assert status == 504 and body["error"].startswith("timed out")


def test_shutdown_finishes_the_requests_in_flight(retriever):
    gated = Gated(retriever)
    with running(gated) as server:
        request, out = in_thread(get_json, f"{server.url}/api/search?q=castle&k=1")
        assert gated.entered.wait(30)
        server.shutdown()  # stops accepting; running() then closes, which waits for it
        threading.Timer(0.3, gated.gate.set).start()
    request.join()
    assert out[0][0] == 200 and out[0][1]["hits"]
    assert not server.batcher.worker.is_alive()
