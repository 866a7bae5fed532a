"""The ``ovms`` command line, run as ``python -m ovms_cli`` subprocesses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

if TYPE_CHECKING:
    from conftest import ServerProcess

EX_USAGE = 64
Spawn = Callable[..., "ServerProcess"]


def ovms(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI; a terminal width from the environment must not change what it prints."""
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "ovms_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


@pytest.fixture(scope="module")
def config(repository: Path) -> str:
    return str(repository / "config.json")


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port that a listening socket holds."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


# --- help ------------------------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = ovms("--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert "validate-config" in result.stdout


def test_no_arguments_prints_help() -> None:
    result = ovms()
    assert result.returncode == 0, result.stderr
    assert "validate-config" in result.stdout


def test_serve_help_lists_the_ovms_options() -> None:
    result = ovms("serve", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--config_path", "--model_name", "--model_path", "--port", "--rest_port", "--log_level"):
        assert option in result.stdout


# --- usage rules of spec §1.4: exit 64 and OVMS's exact message on stderr ------------------------

USAGE_CASES = {
    "config_path with model_name": (
        ["--config_path", "{config}", "--model_name", "affine"],
        "Use either config_path or model_path with model_name",
    ),
    "config_path with model_path": (
        ["--config_path", "{config}", "--model_path", "{repository}/affine"],
        "Use either config_path or model_path with model_name",
    ),
    "neither mode": ([], "Use config_path or model_path with model_name"),
    "model_name without model_path": (
        ["--model_name", "affine"],
        "Use config_path or model_path with model_name",
    ),
    "nireq with config": (
        ["--config_path", "{config}", "--nireq", "2"],
        "Model parameters in CLI are exclusive with the config file",
    ),
    "shape with config": (
        ["--config_path", "{config}", "--shape", "(1,4)"],
        "Model parameters in CLI are exclusive with the config file",
    ),
    "batch_size with config": (
        ["--config_path", "{config}", "--batch_size", "2"],
        "Model parameters in CLI are exclusive with the config file",
    ),
    "target_device with config": (
        ["--config_path", "{config}", "--target_device", "CPU"],
        "Model parameters in CLI are exclusive with the config file",
    ),
    "plugin_config with config": (
        ["--config_path", "{config}", "--plugin_config", '{"NUM_STREAMS": "1"}'],
        "Model parameters in CLI are exclusive with the config file",
    ),
    "model_version_policy with config": (
        ["--config_path", "{config}", "--model_version_policy", '{"all": {}}'],
        "Model parameters in CLI are exclusive with the config file",
    ),
    "rest_workers beyond the one event loop": (
        ["--config_path", "{config}", "--rest_port", "8001", "--rest_workers", "4"],
        "rest_workers: only 1 is supported, REST runs on the server's one event loop (got 4)",
    ),
    "grpc_workers disagreeing with its alias workers": (
        ["--config_path", "{config}", "--grpc_workers", "2", "--workers", "1"],
        "grpc_workers is an alias of workers here (server processes on the same ports); "
        "they disagree: grpc_workers 2, workers 1",
    ),
    "workers out of range": (
        ["--config_path", "{config}", "--workers", "0"],
        f"workers count should be from 1 to CPU core count : {os.cpu_count()}",
    ),
    "grpc_memory_quota": (
        ["--config_path", "{config}", "--grpc_memory_quota", "2147483648"],
        "grpc_memory_quota: grpc.aio offers no resource quota to apply it to; omit it or pass 0 (no quota)",
    ),
    "grpc_channel_arguments not key=value": (
        ["--config_path", "{config}", "--grpc_channel_arguments", "grpc.max_connection_age_ms"],
        "Grpc channel arguments passed in wrong format: 'grpc.max_connection_age_ms' is not key=value",
    ),
    "grpc_channel_arguments not a gRPC key": (
        ["--config_path", "{config}", "--grpc_channel_arguments", "max_connection_age_ms=2000"],
        "Grpc channel arguments passed in wrong format: 'max_connection_age_ms' is not a gRPC channel "
        "argument (they are named grpc.*)",
    ),
    "grpc_channel_arguments text for an integer key": (
        ["--config_path", "{config}", "--grpc_channel_arguments", "grpc.max_receive_message_length=abc"],
        "Grpc channel arguments passed in wrong format: 'grpc.max_receive_message_length' must be an "
        "integer, not 'abc'",
    ),
    "cpu_extension that does not exist": (
        ["--config_path", "{config}", "--cpu_extension", "{repository}/no-such-library.so"],
        "File path provided as an --cpu_extension parameter does not exists in the filesystem: "
        "{repository}/no-such-library.so",
    ),
    "rest_workers without rest_port": (
        ["--config_path", "{config}", "--rest_workers", "1"],
        "rest_workers is set but rest_port is not set. rest_port is required to start rest servers",
    ),
    "port out of range": (
        ["--config_path", "{config}", "--port", "70000"],
        "port number out of range from 0 to 65535",
    ),
    "rest_port out of range": (
        ["--config_path", "{config}", "--rest_port", "70000"],
        "rest_port number out of range from 0 to 65535",
    ),
    "metrics without rest_port": (
        ["--config_path", "{config}", "--metrics_enable"],
        "rest_port setting is missing, metrics are enabled on rest port",
    ),
    "metrics_list without metrics_enable": (
        ["--config_path", "{config}", "--rest_port", "8001", "--metrics_list", "ovms_requests_success"],
        "metrics_enable setting is missing, required when metrics_list is provided",
    ),
    "bad rest_bind_address": (
        ["--config_path", "{config}", "--rest_port", "8001", "--rest_bind_address", "not an address!"],
        "rest_bind_address has invalid format: proper hostname or IP address expected.",
    ),
    "bad grpc_bind_address": (
        ["--config_path", "{config}", "--grpc_bind_address", "-bad-"],
        "grpc_bind_address has invalid format: proper hostname or IP address expected.",
    ),
    "port equals rest_port": (
        ["--config_path", "{config}", "--port", "9555", "--rest_port", "9555"],
        "port and rest_port cannot have the same values",
    ),
    "lower-case log_level": (
        ["--config_path", "{config}", "--log_level", "debug"],
        "log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR",
    ),
    "unknown log_level": (
        ["--config_path", "{config}", "--log_level", "VERBOSE"],
        "log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR",
    ),
    "stateful option without stateful": (
        ["--model_name", "affine", "--model_path", "{repository}/affine", "--max_sequence_number", "5"],
        "Setting low_latency_transformation, max_sequence_number and idle_sequence_cleanup require "
        "setting stateful flag for the model.",
    ),
}


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_usage_error_exits_64_with_the_ovms_message(repository: Path, config: str, case: str) -> None:
    template, message = USAGE_CASES[case]
    args = [arg.replace("{config}", config).replace("{repository}", str(repository)) for arg in template]
    result = ovms("serve", *args)
    assert result.returncode == EX_USAGE, (result.stdout, result.stderr)
    assert result.stderr.strip() == message.replace("{repository}", str(repository))
    assert result.stdout == ""


def test_grpc_workers_out_of_range(config: str) -> None:
    result = ovms("serve", "--config_path", config, "--grpc_workers", "0")
    assert result.returncode == EX_USAGE
    assert (
        result.stderr.strip() == f"grpc_workers count should be from 1 to CPU core count : {os.cpu_count()}"
    )


def test_first_broken_rule_wins(config: str) -> None:
    result = ovms("serve", "--config_path", config, "--model_name", "x", "--nireq", "2", "--log_level", "x")
    assert result.returncode == EX_USAGE
    assert result.stderr.strip() == "Use either config_path or model_path with model_name"


@pytest.mark.parametrize(
    ("args", "mentioned"),
    [
        (["serve", "--config_path", "{config}", "--bogus"], "--bogus"),
        (["serve", "--config_path", "{config}", "--port", "abc"], "--port"),
        (["serve", "--config_path", "{config}", "--nireq"], "--nireq"),
    ],
)
def test_unparsable_command_line_exits_64(config: str, args: list[str], mentioned: str) -> None:
    result = ovms(*[arg.replace("{config}", config) for arg in args])
    assert result.returncode == EX_USAGE, (result.stdout, result.stderr)
    assert mentioned in result.stderr
    assert "Traceback" not in result.stderr


# --- validate-config -------------------------------------------------------------------------------


def test_validate_config_on_a_good_config(config: str) -> None:
    result = ovms("validate-config", config)
    assert result.returncode == 0, (result.stdout, result.stderr)
    names = ("affine", "add_mul", "fixed", "echo", "broken", "image_nchw", "image_nhwc")
    for name in names:
        assert name in result.stdout
    assert f"valid, {len(names)} models" in result.stdout


def test_validate_config_reports_every_problem_with_its_path(tmp_path: Path, repository: Path) -> None:
    bad = {
        "model_config_list": [
            {"config": {"name": "affine", "base_path": str(repository / "affine"), "nireq": "two"}},
            {"config": {"base_path": str(repository / "fixed"), "colour": "blue"}},
            {"config": {"name": "x", "base_path": str(repository / "echo"), "shape": 12}},
        ],
        "monitoring": [],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = ovms("validate-config", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    output = result.stdout + result.stderr
    for location in (
        "model_config_list[0].config.nireq",
        "model_config_list[1].config",
        "model_config_list[2].config.shape",
        "monitoring",
    ):
        assert location + ":" in output, output
    assert 'required key "name" is missing' in output
    assert "colour" in output


def test_validate_config_on_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"model_config_list": [')
    result = ovms("validate-config", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert str(path) in result.stdout + result.stderr


def test_serve_with_an_invalid_config_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_config_list": [{"config": {"name": "a"}}]}))
    result = ovms("serve", "--config_path", str(path), "--port", free_port())
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "model_config_list[0].config" in result.stderr


# --- single-model mode -----------------------------------------------------------------------------


def _affine(rows: int) -> np.ndarray:
    return np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)


def test_single_model_with_shape_nireq_and_plugin_config(spawn_server: Spawn, repository: Path) -> None:
    server = spawn_server(
        [
            "--model_name",
            "affine",
            "--model_path",
            str(repository / "affine"),
            "--shape",
            "(2,4)",
            "--nireq",
            "3",
            "--plugin_config",
            '{"NUM_STREAMS": "1"}',
        ]
    )
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        metadata = client.get_model_metadata("affine")
        assert list(metadata.versions) == ["2"]  # default policy: the latest version only
        assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("input", "FP32", [2, 4])]
        data = _affine(2)
        infer_input = grpcclient.InferInput("input", [2, 4], "FP32")
        infer_input.set_data_from_numpy(data)
        result = client.infer("affine", [infer_input])
        assert result.get_response().model_version == "2"
        np.testing.assert_array_equal(result.as_numpy("scaled"), data * 2 + 1)
        np.testing.assert_array_equal(result.as_numpy("total"), data.sum(axis=1))
        wrong = grpcclient.InferInput("input", [3, 4], "FP32")
        wrong.set_data_from_numpy(_affine(3))
        with pytest.raises(InferenceServerException) as raised:
            client.infer("affine", [wrong])
        assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert (
            "Expected: 2; Actual: 3" in raised.value.message() or "Expected: (2,4)" in raised.value.message()
        )
    assert "No of InferRequests: 3" in server.log_text()
    assert server.stop() == 0


def test_single_model_with_batch_size_over_rest(spawn_server: Spawn, repository: Path) -> None:
    server = spawn_server(
        ["--model_name", "scaler", "--model_path", str(repository / "affine"), "--batch_size", "3"]
    )
    client = httpclient.InferenceServerClient(server.rest_url)
    try:
        metadata = client.get_model_metadata("scaler")
        assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [3, 4]}]
        assert metadata["outputs"] == [
            {"name": "scaled", "datatype": "FP32", "shape": [3, 4]},
            {"name": "total", "datatype": "FP32", "shape": [3]},
        ]
        data = _affine(3)
        infer_input = httpclient.InferInput("input", [3, 4], "FP32")
        infer_input.set_data_from_numpy(data)
        result = client.infer("scaler", [infer_input])
        np.testing.assert_array_equal(result.as_numpy("scaled"), data * 2 + 1)
        assert client.is_model_ready("affine") is False  # served under --model_name only
    finally:
        client.close()
    assert server.stop() == 0


def test_single_model_that_fails_to_load_exits_1(spawn_server: Spawn, repository: Path) -> None:
    """Spec §1.5: in single-model mode a model that cannot load fails start-up (exit 1)."""
    server = spawn_server(
        ["--model_name", "broken", "--model_path", str(repository / "broken")], wait_ready=False
    )
    deadline = time.monotonic() + 60
    while server.process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{server.rest_url}/v2/health/ready", timeout=1) as answer:
                ready = answer.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            ready = False
        assert not ready, "the server started serving although its only model failed to load"
        time.sleep(0.05)
    assert server.process.poll() == 1, server.log_text()


# --- ports -----------------------------------------------------------------------------------------


def test_busy_grpc_port_exits_1(config: str, listening: int) -> None:
    result = ovms(
        "serve", "--config_path", config, "--grpc_bind_address", "127.0.0.1", "--port", str(listening)
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"Failed to start gRPC server - at 127.0.0.1:{listening} - port is busy" in result.stderr


def test_busy_rest_port_exits_1(config: str, listening: int) -> None:
    result = ovms(
        "serve",
        "--config_path",
        config,
        "--port",
        free_port(),
        "--rest_bind_address",
        "127.0.0.1",
        "--rest_port",
        str(listening),
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"127.0.0.1:{listening}" in result.stderr
    assert "port is busy" in result.stderr
