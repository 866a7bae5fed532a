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
from engine_processes import alive, engines, parent
from genai_models import LONG_STREAM
from server_process import ServerProcess, start_server

from ovms_cli.servables.generative.demo import write_generative_demo
from ovms_cli.servables.generative.graph_config import Task

WAIT_S = 30.0


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_generative_demo(tmp_path_factory.mktemp("llm"), Task.TEXT_GENERATION)


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + WAIT_S
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if alive(p)]
        time.sleep(0.05)


def _complete(server: ServerProcess, tokens: int) -> httpx.Response:
    body = {**LONG_STREAM, "stream": False, "max_tokens": tokens}
    return httpx.post(f"http://{server.rest_url}/v3/completions", json=body, timeout=60)


def test_the_engine_exits_when_the_server_is_killed(config: Path, tmp_path: Path) -> None:
    server = start_server(["--config_path", str(config)], tmp_path / "ovms.log")
    try:
        running = engines(server.process.pid)
        assert len(running) == 1
        with httpx.stream(
            "POST", f"http://{server.rest_url}/v3/completions", json=LONG_STREAM, timeout=30
        ) as answer:
            next(answer.iter_lines())  # the engine is generating
            server.process.kill()
            server.process.wait(timeout=30)
    finally:
        server.process.kill()
    _wait_gone(running)


def test_a_dead_engine_fails_its_streams_and_the_server_restarts_it(config: Path, tmp_path: Path) -> None:
    server = start_server(["--config_path", str(config)], tmp_path / "ovms.log")
    try:
        [engine] = engines(server.process.pid)
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
        [restarted] = engines(server.process.pid)
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
        while len(running := engines(server.process.pid)) < 2:
            assert time.monotonic() < deadline, running
            time.sleep(0.1)
        parents = {parent(p) for p in running}
        assert (len(running), len(parents)) == (2, 2)
        for _ in range(4):  # the requests land on either worker
            answer = _complete(server, 3)
            assert answer.status_code == 200, answer.text
    finally:
        assert server.stop() == 0, server.log_text()
    _wait_gone(running)


def test_unloading_a_model_ends_its_engine(config: Path, tmp_path: Path) -> None:
    served = json.loads(config.read_text())
    edited = tmp_path / "config.json"
    entries = [
        {**e, "base_path": str(config.parent / e["base_path"])} for e in served["mediapipe_config_list"]
    ]
    edited.write_text(json.dumps({**served, "mediapipe_config_list": entries}))
    server = start_server(
        ["--config_path", str(edited), "--file_system_poll_wait_seconds", "0"], tmp_path / "ovms.log"
    )
    try:
        running = engines(server.process.pid)
        assert len(running) == 1
        edited.write_text(json.dumps({**served, "mediapipe_config_list": []}))
        assert httpx.post(f"http://{server.rest_url}/v1/config/reload", timeout=60).status_code == 201
        _wait_gone(running)
        assert engines(server.process.pid) == []
    finally:
        assert server.stop() == 0, server.log_text()
