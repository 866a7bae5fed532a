"""Issue 12, kinds 1, 2 and 7, end to end: a real ``ovms serve``, real clients, both APIs, both transports.

1. NaN, +Inf and -Inf stay apart in JSON (bare ``NaN``/``Infinity``/``-Infinity`` tokens, both ways).
2. Shapes numpy cannot hold are 400 / INVALID_ARGUMENT before any array is made.
7. A JSON or typed value is checked against the tensor's datatype, with the element's index.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import grpc
import httpx
import numpy as np
import ovmsclient
import pytest
import tritonclient.http as httpclient
from builders import log_model, string_echo_model, widen_u8_model, write_ir, write_onnx_add_mul
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

if TYPE_CHECKING:
    from conftest import ServerProcess

CONTENT = "Could not parse input content. Not valid ndarray detected"
DT = types_pb2.DataType


@pytest.fixture(scope="module")
def values_server(
    server_factory: Callable[..., ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("bad_input")
    write_ir(log_model(), root / "log")
    write_ir(widen_u8_model(), root / "widen_u8")
    write_onnx_add_mul(root / "add_mul")
    write_ir(string_echo_model(), root / "echo")
    models = [
        {"name": name, "base_path": str(root / name)} for name in ("log", "widen_u8", "add_mul", "echo")
    ]
    (root / "config.json").write_text(json.dumps({"model_config_list": [{"config": m} for m in models]}))
    running = server_factory(["--config_path", str(root / "config.json")], root / "ovms.log")
    yield running
    assert running.stop() == 0, running.log_text()


@pytest.fixture(scope="module")
def http(values_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{values_server.rest_url}", timeout=30) as session:
        yield session


@pytest.fixture(scope="module")
def triton(values_server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(values_server.rest_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_target(values_server: ServerProcess) -> str:
    """The gRPC stubs of conftest talk to this module's server."""
    return values_server.grpc_url


def kserve_json(datatype: str, shape: list[int], data: list[object], name: str = "x") -> dict[str, object]:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


def rest_error(http: httpx.Client, path: str, body: object) -> tuple[int, str]:
    answer = http.post(path, content=body if isinstance(body, bytes) else json.dumps(body).encode())
    return answer.status_code, answer.json()["error"]


def grpc_error(call: Callable[..., object], request: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value.code(), raised.value.details()


def assert_still_serving(values_server: ServerProcess, http: httpx.Client) -> None:
    assert values_server.process.poll() is None, values_server.log_text()
    answer = http.post("/v2/models/widen_u8/infer", json=kserve_json("UINT8", [2], [0, 255], "small"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [0, 255]


# ---- kind 1: NaN, +Inf and -Inf in JSON ----------------------------------------------------------


def test_kserve_rest_log_answers_nan_and_minus_infinity_to_tritonclient(
    triton: httpclient.InferenceServerClient,
) -> None:
    x = httpclient.InferInput("x", [3], "FP32")
    x.set_data_from_numpy(np.array([-1, 0, 1], np.float32), binary_data=False)
    result = triton.infer("log", [x], outputs=[httpclient.InferRequestedOutput("y", binary_data=False)])
    y = result.as_numpy("y")
    assert [bool(np.isnan(y[0])), float(y[1]), float(y[2])] == [True, -math.inf, 0.0]


def test_kserve_rest_log_writes_the_tokens(http: httpx.Client) -> None:
    answer = http.post("/v2/models/log/infer", json=kserve_json("FP32", [3], [-1, 0, 1]))
    assert answer.status_code == 200, answer.text
    assert b'"data":[NaN,-Infinity,0.0]' in answer.content


def test_kserve_rest_reads_the_tokens_tritonclient_sends(triton: httpclient.InferenceServerClient) -> None:
    x = httpclient.InferInput("x", [4], "FP32")
    x.set_data_from_numpy(np.array([np.nan, np.inf, -np.inf, 1], np.float32), binary_data=False)
    result = triton.infer("log", [x], outputs=[httpclient.InferRequestedOutput("y", binary_data=False)])
    y = result.as_numpy("y")
    assert [bool(np.isnan(y[0])), float(y[1]), bool(np.isnan(y[2])), float(y[3])] == [
        True,
        math.inf,
        True,
        0.0,
    ]


def test_tfs_rest_log_writes_the_tokens(http: httpx.Client) -> None:
    answer = http.post("/v1/models/log:predict", json={"instances": [-1, 0, 1]})
    assert (answer.status_code, answer.content) == (200, b'{"predictions":[NaN,-Infinity,0.0]}')


def test_tfs_rest_reads_the_tokens(http: httpx.Client) -> None:
    answer = http.post("/v1/models/log:predict", content=b'{"inputs": [NaN, Infinity, -Infinity, 1]}')
    assert (answer.status_code, answer.content) == (200, b'{"outputs":[NaN,Infinity,NaN,0.0]}')


# ---- kind 2: shapes numpy cannot hold ------------------------------------------------------------

HUGE_SHAPES = [[0, 4611686018427387904], [2**40, 2**40], [1] * 33, [2**62], [0, 2**63 - 1]]


@pytest.mark.parametrize("shape", HUGE_SHAPES, ids=str)
def test_kserve_rest_shape_numpy_cannot_hold(
    values_server: ServerProcess, http: httpx.Client, shape: list[int]
) -> None:
    status, error = rest_error(http, "/v2/models/log/infer", kserve_json("FP32", shape, []))
    assert (status, error.split(" - ")[0]) == (400, "Invalid input shape")
    assert_still_serving(values_server, http)


def test_kserve_rest_shape_beyond_int64(http: httpx.Client) -> None:
    body = b'{"inputs": [{"name": "x", "shape": [18446744073709551616], "datatype": "FP32", "data": []}]}'
    assert rest_error(http, "/v2/models/log/infer", body) == (
        400,
        'input "x": "shape" must be a list of non-negative integers, got [1.8446744073709552e+19]',
    )


@pytest.mark.parametrize("raw", [False, True], ids=["contents", "raw"])
@pytest.mark.parametrize("shape", HUGE_SHAPES, ids=str)
def test_kserve_grpc_shape_numpy_cannot_hold(
    kserve_stub: service_pb2_grpc.GRPCInferenceServiceStub, shape: list[int], raw: bool
) -> None:
    request = service_pb2.ModelInferRequest(model_name="log")
    request.inputs.add(name="x", datatype="FP32", shape=shape)
    if raw:
        request.raw_input_contents.append(b"")
    code, details = grpc_error(kserve_stub.ModelInfer, request)
    assert (code, details.split(" - ")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "Invalid input shape")


@pytest.mark.parametrize("shape", [*HUGE_SHAPES, [-1]], ids=str)
def test_tfs_grpc_shape_numpy_cannot_hold(
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub, shape: list[int]
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "log"
    tensor = request.inputs["x"]
    tensor.dtype = DT.DT_FLOAT
    for size in shape:
        tensor.tensor_shape.dim.add(size=size)
    code, details = grpc_error(tfs_stub.Predict, request)
    assert (code, details.split(" - ")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "Invalid input shape")


def test_tfs_rest_nesting_deeper_than_numpy(values_server: ServerProcess, http: httpx.Client) -> None:
    deep: object = 1.0
    for _ in range(70):
        deep = [deep]
    status, error = rest_error(http, "/v1/models/log:predict", {"instances": deep})
    assert (status, error.split(" - ")[0]) == (
        400,
        "Could not parse instance content. Not valid ndarray detected",
    )
    assert_still_serving(values_server, http)


# ---- kind 7: each value against the tensor's datatype --------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "details"),
    [
        (
            "log",
            kserve_json("FP32", [4], [True, 2, 3, 4]),
            "FP32 data must be numbers, got True at index 0; input name: x",
        ),
        (
            "log",
            kserve_json("FP32", [2], [2.5, False]),
            "FP32 data must be numbers, got False at index 1; input name: x",
        ),
        (
            "log",
            kserve_json("FP32", [2], [1, 1e300]),
            "value 1e+300 at index 1 is out of range for FP32; input name: x",
        ),
        (
            "add_mul",
            {
                "inputs": [
                    {"name": "a", "shape": [1, 3], "datatype": "INT32", "data": [1, 1.5, 3]},
                    {"name": "b", "shape": [3, 3], "datatype": "INT32", "data": [1, 2, 3] * 3},
                ]
            },
            "INT32 data must be integers, got 1.5 at index 1; input name: a",
        ),
        (
            "widen_u8",
            kserve_json("UINT8", [2], [7, 300], "small"),
            "value 300 at index 1 is out of range for UINT8 [0, 255]; input name: small",
        ),
        (
            "widen_u8",
            kserve_json("UINT8", [2], [-1, 7], "small"),
            "value -1 at index 0 is out of range for UINT8 [0, 255]; input name: small",
        ),
        (
            "widen_u8",
            kserve_json("UINT8", [1], [True], "small"),
            "UINT8 data must be integers, got True at index 0; input name: small",
        ),
    ],
    ids=[
        "true-in-fp32",
        "false-in-fp32",
        "fp32-overflow",
        "1.5-in-int32",
        "300-in-uint8",
        "-1-in-uint8",
        "true-in-uint8",
    ],
)
def test_kserve_rest_values_against_datatype(
    values_server: ServerProcess, http: httpx.Client, model: str, body: object, details: str
) -> None:
    assert rest_error(http, f"/v2/models/{model}/infer", body) == (400, f"{CONTENT} - {details}")
    assert_still_serving(values_server, http)


def test_kserve_rest_uint8_range_is_kept(http: httpx.Client) -> None:
    answer = http.post("/v2/models/widen_u8/infer", json=kserve_json("UINT8", [3], [0, 128, 255], "small"))
    assert answer.json()["outputs"][0]["data"] == [0, 128, 255]


def test_kserve_grpc_contents_of_another_type(kserve_stub: service_pb2_grpc.GRPCInferenceServiceStub) -> None:
    request = service_pb2.ModelInferRequest(model_name="log")
    request.inputs.add(name="x", datatype="FP32", shape=[2]).contents.bool_contents.extend([True, False])
    assert grpc_error(kserve_stub.ModelInfer, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{CONTENT} - FP32 values belong in contents.fp32_contents, got values in contents.bool_contents; "
        "input name: x",
    )


def test_kserve_grpc_uint_contents_out_of_range(
    kserve_stub: service_pb2_grpc.GRPCInferenceServiceStub,
) -> None:
    request = service_pb2.ModelInferRequest(model_name="widen_u8")
    request.inputs.add(name="small", datatype="UINT8", shape=[2]).contents.uint_contents.extend([1, 300])
    assert grpc_error(kserve_stub.ModelInfer, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{CONTENT} - value 300 at index 1 is out of range for UINT8 [0, 255]; input name: small",
    )


@pytest.mark.parametrize(
    ("model", "body", "details"),
    [
        ("log", {"instances": [True, 2, 3]}, "FP32 data must be numbers, got True at index 0; input name: x"),
        (
            "widen_u8",
            {"instances": [1, 300]},
            "value 300 at index 1 is out of range for UINT8 [0, 255]; input name: small",
        ),
        (
            "add_mul",
            {"instances": [{"a": [1, 2, 3], "b": [1, 2.5, 3]}]},
            "INT32 data must be integers, got 2.5 at index [0, 1]; input name: b",
        ),
    ],
    ids=["true-in-fp32", "300-in-uint8", "2.5-in-int32"],
)
def test_tfs_rest_values_against_datatype(http: httpx.Client, model: str, body: object, details: str) -> None:
    status, error = rest_error(http, f"/v1/models/{model}:predict", body)
    assert (status, error.split(" - ", 1)[1]) == (400, details)


def test_tfs_grpc_int_val_out_of_range(tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "widen_u8"
    request.inputs["small"].CopyFrom(tensor_pb2.TensorProto(dtype=DT.DT_UINT8, int_val=[1, 300]))
    request.inputs["small"].tensor_shape.dim.add(size=2)
    assert grpc_error(tfs_stub.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid content of tensor proto - value 300 at index 1 is out of range for DT_UINT8 [0, 255]; "
        "input name: small",
    )


def test_tfs_grpc_float_val_into_an_integer_model(
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "add_mul"
    for name in ("a", "b"):
        request.inputs[name].CopyFrom(tensor_pb2.TensorProto(dtype=DT.DT_FLOAT, float_val=[1.5, 2, 3]))
        request.inputs[name].tensor_shape.dim.add(size=1)
        request.inputs[name].tensor_shape.dim.add(size=3)
    code, details = grpc_error(tfs_stub.Predict, request)
    assert (code, details.split(" - ")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "Invalid input precision")


# ---- found by the gRPC fuzzer: inputs whose dynamic batches disagree fail in OpenVINO's shape inference ----


def test_tfs_grpc_inputs_with_different_batches(
    values_server: ServerProcess,
    http: httpx.Client,
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "add_mul"
    for name, rows in (("a", 4), ("b", 0)):
        request.inputs[name].CopyFrom(
            tensor_pb2.TensorProto(dtype=DT.DT_INT32, tensor_content=np.ones((rows, 3), np.int32).tobytes())
        )
        request.inputs[name].tensor_shape.dim.add(size=rows)
        request.inputs[name].tensor_shape.dim.add(size=3)
    code, details = grpc_error(tfs_stub.Predict, request)
    assert (code, details.split(" - ")[0]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid input shape or value for the model",
    )
    assert_still_serving(values_server, http)


def test_kserve_rest_inputs_with_different_batches(values_server: ServerProcess, http: httpx.Client) -> None:
    body = {
        "inputs": [
            {"name": "a", "shape": [2, 3], "datatype": "INT32", "data": [1, 2, 3, 4, 5, 6]},
            {"name": "b", "shape": [3, 3], "datatype": "INT32", "data": [1, 2, 3] * 3},
        ]
    }
    status, error = rest_error(http, "/v2/models/add_mul/infer", body)
    assert (status, error) == (
        400,
        "Invalid input shape or value for the model - Eltwise shape infer input shapes dim index: 0 mismatch",
    )
    assert_still_serving(values_server, http)


# ---- found by the gRPC fuzzer: a string output of more rows than 1 GB of strings ----


def echo_request(rows: int) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "echo"
    request.inputs["text"].dtype = DT.DT_UINT8
    request.inputs["text"].tensor_shape.dim.add(size=rows)
    request.inputs["text"].tensor_shape.dim.add(size=0)
    return request


def test_tfs_grpc_string_output_of_too_many_rows(
    values_server: ServerProcess,
    http: httpx.Client,
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    assert grpc_error(tfs_stub.Predict, echo_request(2**62)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Maximum 2D array after string conversion exceeded 1GB - 4611686018427387904 strings; "
        "output name: echo_string",
    )
    assert_still_serving(values_server, http)


def test_tfs_grpc_rows_of_no_bytes_are_empty_strings(
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    out = tfs_stub.Predict(echo_request(3), timeout=30).outputs["echo_string"]
    assert list(out.string_val) == [b"", b"", b""]


def test_ovmsclient_rest_round_trips_nan_and_infinities(values_server: ServerProcess) -> None:
    client = ovmsclient.make_http_client(values_server.rest_url)
    try:
        y = client.predict({"x": np.array([np.nan, -1, 0, 1, np.inf], np.float32)}, "log")
    finally:
        client.session.close()
    assert [bool(np.isnan(v)) for v in y] == [True, True, False, False, False]
    assert [float(v) for v in y[2:]] == [-math.inf, 0.0, math.inf]
