"""The ServingRuntime's container, run as KServe runs it, over what KServe's storage initializer lays out.

KServe copies the objects under an InferenceService's storageUri into /mnt/models keeping their
paths below the URI (a URI naming one object gives /mnt/models/<that file>), then starts the
runtime's container: the image's ENTRYPOINT (`ovms`, OVMS's bare command line) with the runtime's
args, `{{.Name}}` filled in with the InferenceService's name. OVMS's own KServe runtime passes
`--model_path=/mnt/models`, so the URI must name the model's base folder (the one holding 1/, 2/...).
Here /mnt/models is a temporary folder and the ports are free ones; everything else is the
manifest's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import yaml
from builders import affine_model, write_ir, write_onnx_add_mul
from deploy.launch import launched, probe
from server_process import free_port

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = yaml.safe_load((ROOT / "deploy" / "kserve" / "servingruntime.yaml").read_text())
SERVICE = yaml.safe_load((ROOT / "deploy" / "kserve" / "inferenceservice.yaml").read_text())
NAME = SERVICE["metadata"]["name"]
(CONTAINER,) = RUNTIME["spec"]["containers"]


class KServePod:
    """The runtime container's command line and probe URLs with /mnt/models at MNT and free ports."""

    def __init__(self, mnt: Path) -> None:
        self.grpc_port, self.rest_port = free_port(), free_port()
        self._ports = {9000: self.grpc_port, 8080: self.rest_port}
        args = [self._fill(arg).replace("/mnt/models", str(mnt)) for arg in CONTAINER["args"]]
        for option, port in (("--port=", 9000), ("--rest_port=", 8080)):
            assert f"{option}{port}" in args, args  # KServe's default ports, as the manifest sets them
            args[args.index(f"{option}{port}")] = f"{option}{self._ports[port]}"
        self.command = [sys.executable, "-m", "ovms_cli", *args]

    @staticmethod
    def _fill(text: str) -> str:
        return text.replace("{{.Name}}", NAME)

    def probe_url(self, probe_name: str) -> str:
        get = CONTAINER[probe_name]["httpGet"]
        return f"http://127.0.0.1:{self._ports[get['port']]}{self._fill(get['path'])}"


def storage_initializer_ir(mnt: Path) -> Callable[[Any], None]:
    """storageUri s3://models-repository/resnet holding resnet/1/model.xml and model.bin."""
    write_ir(affine_model(), mnt, 1)

    def check(client: Any) -> None:
        module = grpcclient if isinstance(client, grpcclient.InferenceServerClient) else httpclient
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        tensor = module.InferInput("input", [2, 4], "FP32")
        tensor.set_data_from_numpy(x)
        np.testing.assert_array_equal(client.infer(NAME, [tensor]).as_numpy("scaled"), x * 2 + 1)

    return check


def storage_initializer_onnx(mnt: Path) -> Callable[[Any], None]:
    """storageUri gs://models-repository/add_mul holding add_mul/1/model.onnx."""
    write_onnx_add_mul(mnt)

    def check(client: Any) -> None:
        module = grpcclient if isinstance(client, grpcclient.InferenceServerClient) else httpclient
        a = np.array([[1, 2, 3]], dtype=np.int32)
        inputs = [module.InferInput(name, [1, 3], "INT32") for name in ("a", "b")]
        for tensor in inputs:
            tensor.set_data_from_numpy(a)
        np.testing.assert_array_equal(client.infer(NAME, inputs).as_numpy("product"), a * a)

    return check


@pytest.mark.parametrize(
    "lay_out", [storage_initializer_ir, storage_initializer_onnx], ids=["openvino_ir", "onnx"]
)
def test_the_runtime_serves_the_model_base_folder_kserve_downloads(
    tmp_path: Path, lay_out: Callable[[Path], Callable[[Any], None]]
) -> None:
    mnt = tmp_path / "mnt-models"
    check = lay_out(mnt)
    pod = KServePod(mnt)
    with launched(pod.command, tmp_path / "ovms.log", pod.probe_url("startupProbe")):
        assert probe(pod.probe_url("readinessProbe")) == 200
        assert probe(pod.probe_url("livenessProbe")) == 200
        assert probe(f"http://127.0.0.1:{pod.rest_port}/metrics") == 200  # prometheus.kserve.io/path
        # the in-pod gRPC port (not routed by KServe)
        check(grpcclient.InferenceServerClient(f"127.0.0.1:{pod.grpc_port}"))
        check(httpclient.InferenceServerClient(f"127.0.0.1:{pod.rest_port}"))  # protocolVersion v2


def test_model_files_directly_in_mnt_models_leave_the_pod_unready(tmp_path: Path) -> None:
    """A storageUri naming a version folder (or one file) puts the model files directly in /mnt/models.
    As OVMS, the server serves no version from it; the runtime's readiness probe (the model's own)
    keeps the pod out of the Service and the log says which folder lacks versions."""
    mnt = tmp_path / "mnt-models"
    write_ir(affine_model(), tmp_path / "uploaded", 1)
    (tmp_path / "uploaded" / "1").rename(mnt)
    pod = KServePod(mnt)
    log = tmp_path / "ovms.log"
    with launched(pod.command, log, pod.probe_url("startupProbe")):
        assert probe(pod.probe_url("livenessProbe")) == 200
        assert probe(pod.probe_url("readinessProbe")) == 404
    assert f"No version found for model in path: {mnt}" in log.read_text()
