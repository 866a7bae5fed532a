"""`ovms demo` on a plain install, before any client library is installed: REST infer and `ovms bench`."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import urllib.request
import warnings

import numpy as np
import numpy.typing as npt
import pytest
from server_process import ServerProcess, ovms_script

from ovms_cli import _proto


def test_readme_curl_infer(
    demo_server: ServerProcess, expected_probabilities: npt.NDArray[np.float32]
) -> None:
    body = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": list(range(8))}]}
    request = urllib.request.Request(
        f"http://{demo_server.rest_url}/v2/models/demo/infer", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        outputs = json.loads(answer.read())["outputs"]
    assert [(o["name"], o["datatype"], o["shape"]) for o in outputs] == [("probabilities", "FP32", [2, 3])]
    np.testing.assert_allclose(np.reshape(outputs[0]["data"], (2, 3)), expected_probabilities, rtol=1e-5)


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_bench_two_seconds(demo_server: ServerProcess, protocol: str) -> None:
    url = demo_server.grpc_url if protocol == "grpc" else demo_server.rest_url
    command = [str(ovms_script()), "bench", "--model", "demo", "--url", url, "--protocol", protocol]
    command += ["--duration", "2", "--warmup", "0.2", "--concurrency", "2", "--processes", "1", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    server = json.loads(done.stdout)["server"]
    assert server["errors"] == 0, server["first_error"]
    assert server["requests"] > 0


def test_every_stub_loads_without_a_warning() -> None:
    """The generated stubs against this protobuf and grpcio: a version error or warning fails here."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for module in pkgutil.walk_packages(_proto.__path__, f"{_proto.__name__}."):
            importlib.import_module(module.name)
