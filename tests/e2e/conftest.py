"""A real `ovms serve` process on free loopback ports, serving models the tests build."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from builders import (
    affine_model,
    fixed_batch_model,
    image_nchw_model,
    image_nhwc_model,
    string_echo_model,
    write_ir,
    write_onnx_add_mul,
)
from e2e.fuzz_record import FuzzRecord
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import prediction_service_pb2_grpc
from server_process import OVMS_SERVE, ServerProcess, start_server
from tritonclient.grpc import service_pb2_grpc

REST_FUZZ = pytest.StashKey[FuzzRecord]()


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repository")
    write_ir(affine_model(), root / "affine", 1)
    write_ir(affine_model(), root / "affine", 2)
    write_onnx_add_mul(root / "add_mul")
    write_ir(fixed_batch_model(), root / "fixed")
    write_ir(string_echo_model(), root / "echo")
    write_ir(image_nchw_model(), root / "image_nchw")
    write_ir(image_nhwc_model(), root / "image_nhwc")
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    models = [
        {"name": "affine", "base_path": "affine", "model_version_policy": {"all": {}}},
        {"name": "add_mul", "base_path": "add_mul"},
        {"name": "fixed", "base_path": "fixed", "nireq": 2},
        {"name": "echo", "base_path": "echo"},
        {"name": "broken", "base_path": "broken"},
        {"name": "image_nchw", "base_path": "image_nchw", "layout": "NHWC:NCHW"},
        {"name": "image_nhwc", "base_path": "image_nhwc", "layout": "NHWC"},
    ]
    config = {"model_config_list": [{"config": m} for m in models]}
    (root / "config.json").write_text(json.dumps(config, indent=2))
    return root


@pytest.fixture(scope="session")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "ovms.log"
    running = start_server(["--config_path", str(repository / "config.json"), "--log_level", "DEBUG"], log)
    yield running
    assert running.stop() == 0, running.log_text()


@pytest.fixture
def spawn_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra servers (``start_server``'s arguments); each is stopped when the test ends."""
    started: list[ServerProcess] = []

    def spawn(
        args: list[str], *, rest: bool = True, wait_ready: bool = True, subcommand: bool = True
    ) -> ServerProcess:
        log = tmp_path / f"ovms-{len(started)}.log"
        command = OVMS_SERVE if subcommand else OVMS_SERVE[:-1]  # OVMS's own form: no `serve`
        running = start_server(args, log, rest=rest, wait_ready=wait_ready, command=command)
        started.append(running)
        return running

    yield spawn
    for running in started:
        if running.process.poll() is None:
            running.stop()


@pytest.fixture(scope="session")
def server_factory() -> Callable[..., ServerProcess]:
    """``start_server`` for test modules that run their own server over their own models."""
    return start_server


@pytest.fixture(scope="module")
def grpc_target(server: ServerProcess) -> str:
    """Where ``kserve_stub`` and ``tfs_stub`` connect; a module with its own server overrides it."""
    return server.grpc_url


@pytest.fixture(scope="module")
def grpc_channel(grpc_target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_target) as channel:
        yield channel


@pytest.fixture(scope="module")
def kserve_stub(grpc_channel: grpc.Channel) -> service_pb2_grpc.GRPCInferenceServiceStub:
    """KServe's gRPC service through tritonclient's own protobufs."""
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc_channel)


@pytest.fixture(scope="module")
def tfs_stub(grpc_channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    """TF Serving's PredictionService through ovmsclient's own protobufs."""
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)


@pytest.fixture(scope="session")
def fuzz_record(pytestconfig: pytest.Config) -> FuzzRecord:
    """Where tests/e2e/test_rest_fuzz.py counts its requests; printed in the terminal summary."""
    return pytestconfig.stash.setdefault(REST_FUZZ, FuzzRecord())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    record = config.stash.get(REST_FUZZ, None)
    if record is not None:
        terminalreporter.write_sep("-", "REST fuzzing (schemathesis)")
        for line in record.summary("schemathesis"):
            terminalreporter.write_line(line)
