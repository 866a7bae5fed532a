"""Start a server from a deployment's own command line and wait until one of its probes answers 200."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def probe(url: str) -> int:
    """The HTTP status a kubelet's httpGet probe would see (0: no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0


@contextmanager
def launched(
    command: list[str], log: Path, ready_url: str, timeout: float = 120
) -> Iterator[subprocess.Popen[bytes]]:
    """Run COMMAND (output to LOG) until READY_URL answers 200; SIGTERM it on exit, which must exit 0."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        deadline = time.monotonic() + timeout
        while probe(ready_url) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} never answered 200:\n{log.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        assert process.wait(timeout=60) == 0, log.read_text()
