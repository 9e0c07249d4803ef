"""The search page in headless Chromium: results rendered, markup shown as text, as-you-type."""

from __future__ import annotations

import subprocess
import time

import pytest
from support.chromium import CHROMIUM, FLAGS, Page
from support.served import running

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)


@needs_chromium
def test_chromium_renders_the_results_page(retriever, tmp_path):
    with running(retriever) as server:
        url = f"{server.url}/?q=castle&k=5"
        profile = ["--user-data-dir=" + str(tmp_path / "profile")]
        logging = ["--enable-logging=stderr", "--v=0"]  # the page's console, on stderr
        shown = subprocess.run(
            [CHROMIUM, *FLAGS, *profile, *logging, "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        dom = shown.stdout
        shot = tmp_path / "page.png"
        subprocess.run(
            [CHROMIUM, *FLAGS, *profile, f"--screenshot={shot}", "--window-size=900,700", url],
            capture_output=True,
            timeout=120,
        )
    assert '<div id="results"><p class="meta">5 documents for <q>castle</q>' in dom
    assert dom.count("<li>") == 5 and dom.count("<mark>") == 5
    # The document's markup arrived as text: the browser shows it and ran none of it.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script>alert" not in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The page's own script and style match the hashes its Content-Security-Policy allows.
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Content Security Policy" in line], console


@needs_chromium
def test_typing_searches_as_you_type(retriever, tmp_path):
    """The page's script (allowed by its policy) fetches the results for the typed query."""
    with running(retriever) as server:
        page = Page(f"{server.url}/?q=castle&k=2", str(tmp_path / "profile"))
        try:
            meta = "document.querySelector('.meta') && document.querySelector('.meta').textContent"
            deadline = time.monotonic() + 60
            while not (page.evaluate(meta) or "").startswith("2 documents for castle"):
                assert time.monotonic() < deadline, "the page did not load"
                time.sleep(0.1)
            page.evaluate(
                "(() => { const box = document.querySelector('input[name=q]');"
                " box.value = 'protein'; box.dispatchEvent(new Event('input')); })()"
            )
            while not (page.evaluate(meta) or "").startswith("2 documents for protein"):
                assert time.monotonic() < deadline, page.evaluate(meta)
                time.sleep(0.1)
            assert page.evaluate("location.search") == "?q=protein&k=2"
        finally:
            page.close()
