"""A real server's engine processes: they end with the server (SIGTERM, SIGKILL), every worker has
its own, and one that dies fails its streams with a 500-class error while the server stays up."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from genai_models import LLM
from server_process import ServerProcess, start_server

from ovms_cli.servables.generative.demo import write_generative_demo
from ovms_cli.servables.generative.graph_config import Task

ENGINE_MODULE = b"ovms_cli.servables.generative.engine_process"
WAIT_S = 30.0
LONG_STREAM = {
    "model": LLM,
    "prompt": "The quick brown fox",
    "max_tokens": 400,
    "temperature": 0,
    "stream": True,
    "ignore_eos": True,
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_generative_demo(tmp_path_factory.mktemp("llm"), Task.TEXT_GENERATION)


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _engines(pid: int) -> list[int]:
    return [p for p in _descendants(pid) if ENGINE_MODULE in Path(f"/proc/{p}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + WAIT_S
    while any(_alive(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if _alive(p)]
        time.sleep(0.05)


def _complete(server: ServerProcess, tokens: int) -> httpx.Response:
    body = {**LONG_STREAM, "stream": False, "max_tokens": tokens}
    return httpx.post(f"http://{server.rest_url}/v3/completions", json=body, timeout=60)


def test_the_engine_exits_when_the_server_is_killed(config: Path, tmp_path: Path) -> None:
    server = start_server(["--config_path", str(config)], tmp_path / "ovms.log")
    engines = _engines(server.process.pid)
    assert len(engines) == 1
    with httpx.stream("POST", f"http://{server.rest_url}/v3/completions", json=LONG_STREAM, timeout=30) as a:
        next(a.iter_lines())
        server.process.kill()
        server.process.wait(timeout=30)
    _wait_gone(engines)


def test_a_dead_engine_fails_its_streams_and_the_server_restarts_it(config: Path, tmp_path: Path) -> None:
    server = start_server(["--config_path", str(config)], tmp_path / "ovms.log")
    try:
        [engine] = _engines(server.process.pid)
        with httpx.stream(
            "POST", f"http://{server.rest_url}/v3/completions", json=LONG_STREAM, timeout=30
        ) as answer:
            lines = answer.iter_lines()
            assert next(lines).startswith("data: {")
            os.kill(engine, signal.SIGKILL)
            rest = [line for line in lines if line]
        error = json.loads(rest[-1][len("data: ") :])["error"]
        assert "the engine process of model tiny-llm exited" in error["message"]
        assert error["type"] == "server_error"
        deadline = time.monotonic() + WAIT_S
        answer = _complete(server, 4)
        while answer.status_code == 503:  # while the engine restarts
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)
            answer = _complete(server, 4)
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["completion_tokens"] == 4
        [restarted] = _engines(server.process.pid)
        assert restarted != engine
        log = server.log_text()
        assert f"The engine process (pid {engine}) of generative model tiny-llm exited" in log
        assert "was restarted" in log
    finally:
        assert server.stop() == 0, server.log_text()


def test_every_worker_has_its_own_engine_and_sigterm_ends_them(config: Path, tmp_path: Path) -> None:
    server = start_server(["--config_path", str(config), "--workers", "2"], tmp_path / "ovms.log")
    try:
        deadline = time.monotonic() + WAIT_S
        while len(engines := _engines(server.process.pid)) < 2:
            assert time.monotonic() < deadline, engines
            time.sleep(0.1)
        parents = {Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[2] for p in engines}
        assert (len(engines), len(parents)) == (2, 2)
        for _ in range(4):  # the requests land on either worker
            answer = _complete(server, 3)
            assert answer.status_code == 200, answer.text
    finally:
        assert server.stop() == 0, server.log_text()
    _wait_gone(engines)
