"""The search page in a real browser (headless Chromium): results rendered, markup shown as text."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support.served import running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"]


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)
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
