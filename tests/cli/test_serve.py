"""`ner-jax serve` as a user runs it: loopback by default, answers, exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from support.served import get_json


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_then_stops_on_a_signal(markup_index, stop):
    command = [sys.executable, "-m", "ner_jax.cli", "serve", "--index", str(markup_index[0])]
    server = subprocess.Popen(
        [*command, "--port", "0", "--nowarmup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        found = re.fullmatch(
            r"serving 7 documents, 13 mentions on (http://127\.0\.0\.1:\d+)\n", line
        )
        assert found, (line, server.stderr.read() if server.poll() is not None else "")
        status, body = get_json(f"{found[1]}/api/search?q=castle&k=2")
        assert status == 200 and len(body["hits"]) == 2
        server.send_signal(stop)
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, stderr[-2000:]
    assert f"{stop.name}: stopping after the requests in flight" in stderr
