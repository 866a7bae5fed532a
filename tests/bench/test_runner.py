"""``ovms bench`` end to end against a real server: every protocol, the JSON output, failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from ovms_cli.bench.clients import Target
from ovms_cli.bench.errors import BenchError
from ovms_cli.bench.inputs import fetch_model_info, make_inputs
from ovms_cli.bench.load import LoadPlan, run_load
from ovms_cli.bench.runner import BenchOptions, run_bench
from ovms_cli.bench.targets import grpc_target, rest_target

if TYPE_CHECKING:
    from conftest import Served


def _check_healthy(report: dict[str, object]) -> None:
    server = report["server"]
    assert isinstance(server, dict)
    assert server["requests"] > 0
    assert server["errors"] == 0, server["first_error"]
    latency = server["latency_us"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert server["client_cpu"]["seconds"] > 0


@pytest.mark.parametrize(("protocol", "binary"), [("grpc", True), ("rest", True)])
def test_closed_loop_over_each_protocol(served: Served, protocol: str, binary: bool) -> None:
    url = served.grpc_url if protocol == "grpc" else served.rest_url
    options = BenchOptions(
        "affine", url, protocol=protocol, binary=binary, concurrency=2, duration_s=1.0, warmup_s=0.3
    )
    report = run_bench(options)
    _check_healthy(report)
    assert report["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [1, 4], "bytes": 16}]
    assert json.loads(json.dumps(report)) == report


def test_cli_json_output_with_json_data_and_shape(served: Served) -> None:
    command = [sys.executable, "-m", "ovms_cli", "bench", "--model", "affine", "--url", served.rest_url]
    command += ["--protocol", "rest", "--json-data", "--concurrency", "2", "--processes", "1"]
    command += ["--duration", "1", "--warmup", "0.2", "--shape", "3,4", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    _check_healthy(report)
    assert (report["protocol"], report["binary"], report["inputs"][0]["shape"]) == ("rest", False, [3, 4])


def test_unknown_model_is_a_clear_failure(served: Served) -> None:
    with pytest.raises(BenchError, match="NOT_FOUND"):
        run_bench(BenchOptions("nope", served.grpc_url, duration_s=1.0, warmup_s=0.0))
    with pytest.raises(BenchError, match="404"):
        run_bench(BenchOptions("nope", served.rest_url, protocol="rest", duration_s=1.0, warmup_s=0.0))


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_failing_requests_are_counted_as_errors_without_hanging(served: Served, protocol: str) -> None:
    url = served.grpc_url if protocol == "grpc" else served.rest_url
    inputs = make_inputs(fetch_model_info(protocol, url, "affine", ""))
    target: Target = (
        grpc_target(url, "nope", "", inputs)
        if protocol == "grpc"
        else rest_target(url, "nope", "", inputs, (), binary=True)
    )
    started = time.monotonic()
    result = run_load(LoadPlan(target, concurrency=2, processes=1, warmup_s=0.0, duration_s=0.5))
    assert time.monotonic() - started < 30
    assert result.measurement.count == 0
    assert result.measurement.errors > 0
    assert result.measurement.first_error is not None
    assert "NOT_FOUND" in result.measurement.first_error or "404" in result.measurement.first_error
