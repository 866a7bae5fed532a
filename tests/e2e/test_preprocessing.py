"""OVMS's ONNX demo command (demos/using_onnx_model) on an ONNX model built here, through real clients.

The server folds mean, scale, the BGR/RGB swap, the uint8 to fp32 conversion and the NHWC to NCHW
transpose into the model; clients send raw images or compact uint8 tensors. The reference is the
same steps done in numpy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from builders import CHANNEL_GAINS, echo_model, write_ir, write_onnx_channel_conv
from e2e.conftest import ServerProcess, start_server
from tritonclient.utils import InferenceServerException

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
SCALE = np.array([58.395, 57.12, 57.375], np.float32)
DEMO_OPTIONS = [
    "--layout",
    "NHWC:NCHW",
    "--mean",
    "[123.675,116.28,103.53]",
    "--scale",
    "[58.395,57.12,57.375]",
    "--shape",
    "(1,224,224,3)",
    "--color_format",
    "BGR:RGB",
    "--precision",
    "uint8:fp32",
]
RNG = np.random.default_rng(2026)
EX_USAGE = 64
INPUT, OUTPUT = "gpu_0/data_0", "gpu_0/softmax_1"  # the names resnet50-caffe2-v1-9.onnx has


def _photo(height: int, width: int) -> np.ndarray:
    pixels = RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(pixels, (5, 5), 2)


def _encode(pixels: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    return data.tobytes()


JPEG = _encode(_photo(48, 40), ".jpg")  # resized by the server to 224x224
PNG = _encode(_photo(224, 224), ".png")  # already the model's size


def reference(nhwc: np.ndarray) -> np.ndarray:
    """The demo's preprocessing by hand, then the model (a per-channel gain): NCHW FP32."""
    rgb = nhwc[..., ::-1].astype(np.float32)
    nchw = ((rgb - MEAN) / SCALE).transpose(0, 3, 1, 2)
    return nchw * CHANNEL_GAINS[None, :, None, None]


def image_reference(image: bytes) -> np.ndarray:
    """OVMS's decoding for a UINT8 [1,224,224,3] input: OpenCV's BGR, resized in uint8, then ``reference``."""
    decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_UNCHANGED)
    return reference(cv2.resize(decoded, (224, 224))[np.newaxis])


def _bytes_tensor(images: list[bytes]) -> np.ndarray:
    out = np.empty(len(images), dtype=object)
    out[:] = images
    return out


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("onnx_demo")
    write_onnx_channel_conv(root / "resnet50-onnx", names=(INPUT, OUTPUT))
    args = ["--model_path", str(root / "resnet50-onnx"), "--model_name", "resnet", *DEMO_OPTIONS]
    running = start_server(args, root / "ovms.log")
    yield running
    assert running.stop() == 0, running.log_text()


def test_metadata_reports_uint8_nhwc_inputs(demo_server: ServerProcess) -> None:
    kserve = grpcclient.InferenceServerClient(demo_server.grpc_url).get_model_metadata("resnet")
    assert [(i.name, i.datatype, list(i.shape)) for i in kserve.inputs] == [
        (INPUT, "UINT8", [1, 224, 224, 3])
    ]
    assert [(o.name, o.datatype, list(o.shape)) for o in kserve.outputs] == [
        (OUTPUT, "FP32", [1, 3, 224, 224])
    ]
    tfs = ovmsclient.make_grpc_client(demo_server.grpc_url).get_model_metadata("resnet")
    assert tfs["inputs"] == {INPUT: {"shape": [1, 224, 224, 3], "dtype": "DT_UINT8"}}


@pytest.mark.parametrize("image", [JPEG, PNG], ids=["jpeg-resized", "png"])
def test_kserve_clients_send_raw_images(demo_server: ServerProcess, image: bytes) -> None:
    expected = image_reference(image)
    grpc_input = grpcclient.InferInput(INPUT, [1], "BYTES")
    grpc_input.set_data_from_numpy(_bytes_tensor([image]))
    grpc_result = grpcclient.InferenceServerClient(demo_server.grpc_url).infer("resnet", [grpc_input])
    _close(grpc_result.as_numpy(OUTPUT), expected)
    http_input = httpclient.InferInput(INPUT, [1], "BYTES")
    http_input.set_data_from_numpy(_bytes_tensor([image]), binary_data=True)
    http_result = httpclient.InferenceServerClient(demo_server.rest_url).infer("resnet", [http_input])
    _close(http_result.as_numpy(OUTPUT), expected)


def test_kserve_clients_send_uint8_tensors(demo_server: ServerProcess) -> None:
    pixels = _photo(224, 224)[np.newaxis, :, :, ::-1]  # as the demo's client sends: a reversed view
    expected = reference(pixels)
    grpc_input = grpcclient.InferInput(INPUT, [1, 224, 224, 3], "UINT8")
    grpc_input.set_data_from_numpy(pixels)
    grpc_result = grpcclient.InferenceServerClient(demo_server.grpc_url).infer("resnet", [grpc_input])
    _close(grpc_result.as_numpy(OUTPUT), expected)
    http_input = httpclient.InferInput(INPUT, [1, 224, 224, 3], "UINT8")
    http_input.set_data_from_numpy(pixels, binary_data=True)
    http_result = httpclient.InferenceServerClient(demo_server.rest_url).infer("resnet", [http_input])
    _close(http_result.as_numpy(OUTPUT), expected)


@pytest.mark.parametrize("image", [JPEG, PNG], ids=["jpeg-resized", "png"])
def test_tfs_clients_send_raw_images(demo_server: ServerProcess, image: bytes) -> None:
    expected = image_reference(image)
    for client in (
        ovmsclient.make_grpc_client(demo_server.grpc_url),
        ovmsclient.make_http_client(demo_server.rest_url),
    ):
        _close(client.predict({INPUT: [image]}, "resnet"), expected)


def test_tfs_clients_send_uint8_tensors(demo_server: ServerProcess) -> None:
    pixels = _photo(224, 224)[np.newaxis]
    for client in (
        ovmsclient.make_grpc_client(demo_server.grpc_url),
        ovmsclient.make_http_client(demo_server.rest_url),
    ):
        _close(client.predict({INPUT: pixels}, "resnet"), reference(pixels))


def test_float_tensors_are_refused_once_clients_send_uint8(demo_server: ServerProcess) -> None:
    data = grpcclient.InferInput(INPUT, [1, 224, 224, 3], "FP32")
    data.set_data_from_numpy(np.zeros((1, 224, 224, 3), np.float32))
    with pytest.raises(InferenceServerException, match="Invalid input precision"):
        grpcclient.InferenceServerClient(demo_server.grpc_url).infer("resnet", [data])


def test_an_echo_model_shows_ovms_image_order(tmp_path: Path) -> None:
    """FP32 NHWC [1,8,8,3] returning its input: a resized JPEG arrives cast first, then interpolated."""
    write_ir(echo_model([1, 8, 8, 3]), tmp_path / "echo")
    server = start_server(
        ["--model_path", str(tmp_path / "echo"), "--model_name", "echo", "--layout", "NHWC"], tmp_path / "log"
    )
    try:
        result = ovmsclient.make_grpc_client(server.grpc_url).predict({"x": [JPEG]}, "echo")
    finally:
        assert server.stop() == 0
    decoded = cv2.imdecode(np.frombuffer(JPEG, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(result, cv2.resize(decoded.astype(np.float32), (8, 8))[np.newaxis])


def _ovms(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "ovms_cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_preprocessing_without_layout_is_a_usage_error(tmp_path: Path) -> None:
    done = _ovms("serve", "--model_path", str(tmp_path), "--model_name", "m", "--mean", "[1,2,3]")
    assert (done.returncode, done.stderr.strip()) == (
        EX_USAGE,
        "error parsing options - --mean parameter requires --layout to be set",
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--color_format", "BGR:YUV", "--color_format: expected MODEL:TENSOR"),
        ("--scale", "[1,0,1]", "--scale: values divide the input and must not be 0"),
        ("--precision", "uint8-fp32", "--precision: expected TENSOR:MODEL"),
    ],
)
def test_bad_values_stop_the_start_with_the_option_named(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    done = _ovms(
        "serve", "--model_path", str(tmp_path), "--model_name", "m", "--layout", "NHWC:NCHW", option, value
    )
    assert done.returncode == 1
    assert message in done.stderr


def test_a_mean_that_does_not_fit_the_model_fails_its_load(tmp_path: Path) -> None:
    write_onnx_channel_conv(tmp_path / "conv")
    done = _ovms(
        "serve",
        "--model_path",
        str(tmp_path / "conv"),
        "--model_name",
        "m",
        "--layout",
        "NHWC:NCHW",
        "--mean",
        "[1,2]",
    )
    assert done.returncode == 1
    assert (
        "mean implies 2 channel(s) but input data has 3 (dimension C of layout NCHW)"
        in done.stderr + done.stdout
    )


def test_validate_config_knows_the_keys(tmp_path: Path) -> None:
    write_onnx_channel_conv(tmp_path / "conv")
    good = {"name": "resnet", "base_path": "conv", "layout": "NHWC:NCHW", "mean": "[123.675,116.28,103.53]"}
    good |= {"scale": [58.395, 57.12, 57.375], "color_format": "BGR:RGB", "precision": "uint8:fp32"}
    bad = {"name": "bad", "base_path": "conv", "color_format": "BGR:XYZ", "scale": 0}
    for models, code in (([good], 0), ([good, bad], 1)):
        (tmp_path / "config.json").write_text(
            json.dumps({"model_config_list": [{"config": m} for m in models]})
        )
        done = _ovms("validate-config", str(tmp_path / "config.json"))
        assert done.returncode == code, done.stdout
    assert "model_config_list[1].config.scale: values divide the input and must not be 0" in done.stdout
    assert "model_config_list[1].config.color_format: expected MODEL:TENSOR" in done.stdout


def test_preprocessing_options_are_model_parameters_exclusive_with_a_config_file(tmp_path: Path) -> None:
    done = _ovms("serve", "--config_path", str(tmp_path / "config.json"), "--precision", "uint8:fp32")
    assert (done.returncode, done.stderr.strip()) == (
        EX_USAGE,
        "Model parameters in CLI are exclusive with the config file",
    )


def test_validate_config_checks_the_options_against_the_served_versions(tmp_path: Path) -> None:
    write_onnx_channel_conv(tmp_path / "conv")
    models = [
        {"name": "fits", "base_path": "conv", "layout": "NHWC:NCHW", "scale": "[1,2,3]"},
        {"name": "two_means", "base_path": "conv", "layout": "NHWC:NCHW", "mean": "[1,2]"},
        {"name": "fp16", "base_path": "conv", "layout": "NHWC:NCHW", "precision": "uint8:fp16"},
    ]
    (tmp_path / "config.json").write_text(json.dumps({"model_config_list": [{"config": m} for m in models]}))
    done = _ovms("validate-config", str(tmp_path / "config.json"))
    assert done.returncode == 1, done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("model_config_list")]
    assert lines == [
        "model_config_list[1].config (version 1): mean implies 2 channel(s) but input data has 3 "
        "(dimension C of layout NCHW)",
        "model_config_list[2].config (version 1): precision uint8:fp16 names fp16 as the model's precision, "
        "but input data is f32",
    ]
