"""Headless Chromium driven over its DevTools pipe (fds 3 and 4, NUL-separated JSON)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"]


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class Page:
    """One tab showing `url`; `evaluate(js)` returns the expression's value (awaited)."""

    def __init__(self, url: str, profile: str):
        to_chrome, self._to = os.pipe()
        self._from, from_chrome = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4: put the pipe ends there
        # for the child, and give this process its own fds 3 and 4 back afterwards.
        saved = {fd: os.dup(fd) if _is_open(fd) else None for fd in (3, 4)}
        os.dup2(to_chrome, 3)
        os.dup2(from_chrome, 4)
        try:
            self.process = subprocess.Popen(
                [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
                pass_fds=(3, 4),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            for fd, old in saved.items():
                if old is None:
                    os.close(fd)
                else:
                    os.dup2(old, fd)
                    os.close(old)
            os.close(to_chrome)
            os.close(from_chrome)
        self._next, self._buffer, self._session = 0, b"", None
        target = self.send("Target.createTarget", url=url)["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)
        self._session = self._session["sessionId"]

    def send(self, method: str, **params) -> dict:
        """A DevTools command's result (events in between are skipped)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if self._session is not None:
            message["sessionId"] = self._session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str):
        found = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        return found["result"].get("value")

    def close(self) -> None:
        self.process.kill()
        self.process.wait(30)
        os.close(self._to)
        os.close(self._from)
