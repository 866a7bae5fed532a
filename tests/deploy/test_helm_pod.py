"""The chart's pod run as the kubelet runs it: its args to the image's `ovms`, its probes, its SIGTERM.

The chart is rendered (Helm's own engine) with a local model and free ports; the container's args
run as the image's entrypoint would run them, the startup, liveness and readiness probes are asked
as the kubelet asks them, and on SIGTERM the server must be gone well within the pod's
terminationGracePeriodSeconds (in-flight requests on SIGTERM: tests/e2e/test_shutdown.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from builders import affine_model, write_ir
from deploy.chart import render
from deploy.launch import launched, probe
from server_process import free_port


def _pod(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = [doc for doc in render(values) if doc["kind"] == "Deployment"]
    return dict(deployment["spec"]["template"]["spec"])


def test_the_chart_pod_serves_answers_its_probes_and_drains_within_its_grace_period(tmp_path: Path) -> None:
    write_ir(affine_model(), tmp_path / "resnet", 1)
    values = {
        "model_name": "resnet",
        "model_path": str(tmp_path / "resnet"),
        "grpc_port": free_port(),
        "rest_port": free_port(),
        "shutdown_timeout": 5,
        "metrics_enable": True,
    }
    pod = _pod(values)
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    def url(probe_name: str) -> str:
        get = container[probe_name]["httpGet"]
        return f"http://127.0.0.1:{ports[get['port']]}{get['path']}"

    command = [sys.executable, "-m", "ovms_cli", *container["args"]]  # the image's ENTRYPOINT is `ovms`
    with launched(command, tmp_path / "ovms.log", url("startupProbe")) as server:
        assert (probe(url("livenessProbe")), probe(url("readinessProbe"))) == (200, 200)
        assert probe(f"http://127.0.0.1:{ports['http']}/metrics") == 200
        client = httpclient.InferenceServerClient(f"127.0.0.1:{ports['http']}")
        x = np.ones((1, 4), np.float32)
        tensor = httpclient.InferInput("input", [1, 4], "FP32")
        tensor.set_data_from_numpy(x)
        np.testing.assert_array_equal(client.infer("resnet", [tensor]).as_numpy("scaled"), x * 2 + 1)
        server.terminate()
        # The kubelet sends SIGKILL once the grace period is over: the server must be gone before.
        assert server.wait(timeout=pod["terminationGracePeriodSeconds"]) == 0
