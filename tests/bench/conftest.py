"""One real `ovms serve` process with the affine model, for the benchmark's end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import affine_model, write_ir
from server_process import free_port

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Served:
    model_path: Path
    grpc_url: str
    rest_url: str


def _wait_ready(process: subprocess.Popen[bytes], rest_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://{rest_url}/v2/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("bench")
    model_path = write_ir(affine_model(), root / "affine")
    grpc_port, rest_port = free_port(), free_port()
    log = root / "ovms.log"
    command = [
        sys.executable,
        "-m",
        "ovms_cli",
        "serve",
        "--model_name",
        "affine",
        "--model_path",
        str(model_path),
    ]
    command += ["--port", str(grpc_port), "--rest_port", str(rest_port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, f"127.0.0.1:{rest_port}", log)
        yield Served(model_path, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{rest_port}")
    finally:
        process.terminate()
        process.wait(timeout=30)
