"""``ovms serve --workers 2``: real worker processes on shared ports, seen by clients as one server."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from builders import affine_model, write_ir
from server_process import ServerProcess, start_server

CONNECTIONS = 24  # new connections: the kernel spreads connections, not requests, over the workers
INFER_LINE = re.compile(r"\[(\d+):\d+\]\[ovms\.serving\]\[DEBUG\] (REST|gRPC) KServe ModelInfer name: (\w+)")
AFFINE_INPUT = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    write_ir(affine_model(), tmp_path / "affine", 1)
    write_ir(affine_model(), tmp_path / "second", 1)
    _write_config(tmp_path, ["affine"])
    return tmp_path


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(args: list[str]) -> ServerProcess:
        server = start_server([*args, "--log_level", "DEBUG"], tmp_path / f"pool-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.terminate()
            server.process.wait(timeout=60)


def test_requests_spread_over_the_workers_and_every_scrape_sums_them(
    repository: Path, pool: Callable[..., ServerProcess]
) -> None:
    server = pool(["--config_path", str(repository / "config.json"), "--workers", "2", "--metrics_enable"])
    workers = _workers(server)
    assert len(workers) == 2
    threads = max(1, len(os.sched_getaffinity(0)) // 2)  # the cores, shared between the two workers
    assert server.log_text().count(f"OpenVINO CPU inference threads {threads}") == 2

    for _ in range(CONNECTIONS):
        _infer_rest(server, "affine")
        _infer_grpc(server, "affine")

    served = _infers_by_pid(server)
    for interface in ("REST", "gRPC"):  # both workers served each, and nobody else did
        assert {pid for pid, i in served if i == interface} == set(workers), served
        assert sum(count for (_, i), count in served.items() if i == interface) == CONNECTIONS
    for _ in range(6):  # scrapes over new connections reach either worker
        metrics = httpx.get(f"http://{server.rest_url}/metrics", timeout=10).text
        for interface in ("REST", "gRPC"):
            assert _sample(metrics, "ovms_requests_success", interface) == CONNECTIONS
        assert _sample(metrics, "ovms_request_time_us_count", "REST") == CONNECTIONS
        assert _sample(metrics, "ovms_streams", None) >= 2  # one stream at least per worker


def test_a_worker_that_dies_is_logged_restarted_and_serves_while_the_pool_reads_not_ready(
    repository: Path, pool: Callable[..., ServerProcess]
) -> None:
    server = pool(["--config_path", str(repository / "config.json"), "--workers", "2"])
    victim, survivor = _workers(server)

    os.kill(victim, signal.SIGKILL)
    statuses = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses.append(httpx.get(f"http://{server.rest_url}/v2/health/ready", timeout=5).status_code)
        workers = _workers(server)
        if statuses[-1] == 200 and victim not in workers and len(workers) == 2:
            break
        time.sleep(0.02)

    assert 503 in statuses  # not ready while a worker was missing
    assert statuses[-1] == 200
    replacement = (set(_workers(server)) - {survivor}).pop()
    assert re.search(rf"Worker 0 \(pid {victim}\) exited \(signal SIGKILL\): restarting", server.log_text())
    for _ in range(CONNECTIONS):
        _infer_rest(server, "affine")
    assert replacement in {pid for pid, _ in _infers_by_pid(server)}


def test_sigterm_drains_every_worker_and_the_pool_exits_0(
    repository: Path, pool: Callable[..., ServerProcess]
) -> None:
    server = pool(["--config_path", str(repository / "config.json"), "--workers", "2"])
    workers = _workers(server)

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=60) == 0
    log = server.log_text()
    for pid in workers:
        assert re.search(rf"\[{pid}:\d+\]\[ovms.serving\]\[INFO\] Received SIGTERM", log), log
        assert re.search(rf"\[{pid}:\d+\]\[ovms.serving\]\[INFO\] Shutdown complete", log), log
        assert not Path(f"/proc/{pid}").exists()


def test_one_reload_request_reaches_every_worker_and_grpc_workers_is_an_alias(
    repository: Path, pool: Callable[..., ServerProcess]
) -> None:
    config = repository / "config.json"
    server = pool(
        ["--config_path", str(config), "--grpc_workers", "2", "--file_system_poll_wait_seconds", "0"]
    )
    assert len(_workers(server)) == 2
    _write_config(repository, ["affine", "second"])

    reloaded = httpx.post(f"http://{server.rest_url}/v1/config/reload", timeout=60)

    assert reloaded.status_code == 201
    for _ in range(CONNECTIONS):
        _infer_rest(server, "second")
    assert {pid for pid, _ in _infers_by_pid(server, "second")} == set(_workers(server))


def test_workers_do_not_list_system_shared_memory_in_server_metadata(
    repository: Path, pool: Callable[..., ServerProcess]
) -> None:
    server = pool(["--config_path", str(repository / "config.json"), "--workers", "2"])

    metadata = httpx.get(f"http://{server.rest_url}/v2", timeout=10).json()

    assert "statistics" in metadata["extensions"]
    assert "system_shared_memory" not in metadata["extensions"]


def test_a_worker_that_cannot_start_fails_the_command(tmp_path: Path) -> None:
    server = start_server(
        ["--model_name", "m", "--model_path", str(tmp_path / "missing"), "--workers", "2"],
        tmp_path / "failing.log",
        wait_ready=False,
    )

    assert server.process.wait(timeout=120) == 1
    assert "failed to start (exit code 1): stopping" in server.log_text()


def _write_config(root: Path, names: list[str]) -> None:
    models = [{"config": {"name": name, "base_path": str(root / name)}} for name in names]
    (root / "config.json").write_text(json.dumps({"model_config_list": models}))


def _workers(server: ServerProcess) -> list[int]:
    """The supervisor's children: its workers, by pid."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(int(child) for child in children)


def _infer_rest(server: ServerProcess, model: str) -> None:
    with httpx.Client() as client:  # a new connection each time
        answer = client.post(
            f"http://{server.rest_url}/v2/models/{model}/infer", json={"inputs": [AFFINE_INPUT]}, timeout=30
        )
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert outputs["scaled"] == [3.0, 5.0, 7.0, 9.0]


def _infer_grpc(server: ServerProcess, model: str) -> None:
    client = triton_grpc.InferenceServerClient(server.grpc_url)
    try:
        tensor = triton_grpc.InferInput("input", [1, 4], "FP32")
        tensor.set_data_from_numpy(np.array([[1, 2, 3, 4]], np.float32))
        result = client.infer(model, [tensor])
    finally:
        client.close()
    assert result.as_numpy("total").tolist() == [10.0]


def _infers_by_pid(server: ServerProcess, model: str = "affine") -> Counter[tuple[int, str]]:
    """(worker pid, interface) of every ModelInfer the workers logged at DEBUG."""
    return Counter(
        (int(pid), interface)
        for pid, interface, name in INFER_LINE.findall(server.log_text())
        if name == model
    )


def _sample(metrics: str, family: str, interface: str | None) -> float:
    total = 0.0
    for line in metrics.splitlines():
        wanted = interface is None or f'interface="{interface}"' in line
        if line.startswith(family + "{") and wanted and "ModelReady" not in line and "Metadata" not in line:
            total += float(line.rpartition(" ")[2])
    return total
