"""A real `ovms` server process on free loopback ports, for the end-to-end and smoke tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OVMS_SERVE = (sys.executable, "-m", "ovms_cli", "serve")


def ovms_script() -> Path:
    """The `ovms` console script that installing ovms put beside this Python."""
    script = Path(sys.executable).parent / "ovms"
    if not script.exists():
        raise RuntimeError(f"no ovms console script at {script}: is ovms installed in this environment?")
    return script


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    grpc_port: int
    rest_port: int
    log: Path

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"127.0.0.1:{self.rest_port}"

    def log_text(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=30)


def start_server(
    args: list[str],
    log: Path,
    *,
    rest: bool = True,
    wait_ready: bool = True,
    command: Sequence[str] = OVMS_SERVE,
) -> ServerProcess:
    """``command`` (default ``python -m ovms_cli serve``) with ``args`` and free ``--port``/``--rest_port``."""
    grpc_port, rest_port = free_port(), free_port()
    argv = [*command, *args, "--port", str(grpc_port)]
    if rest:
        argv += ["--rest_port", str(rest_port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    server = ServerProcess(process, grpc_port, rest_port if rest else 0, log)
    if wait_ready:
        _wait_ready(server)
    return server


def _wait_ready(server: ServerProcess, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{server.rest_url}/v2/health/ready"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited {server.process.returncode}:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    server.process.kill()
    raise RuntimeError(f"server not ready after {timeout}s:\n{server.log_text()}")
