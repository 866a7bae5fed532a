"""The TensorFlow Serving API against a real ``ovms serve`` process: ovmsclient over gRPC and REST,
raw gRPC stubs for what ovmsclient never sends, and curl-style JSON over ``httpx``."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import numpy as np
import ovmsclient
import pytest
from builders import run_in_process
from ovmsclient.tfs_compat.grpc.serving_client import GrpcClient
from ovmsclient.tfs_compat.http.serving_client import HttpClient
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_management_pb2,
    predict_pb2,
)

if TYPE_CHECKING:
    from conftest import ServerProcess

RNG = np.random.default_rng(20240503)
Client = GrpcClient | HttpClient


@pytest.fixture(scope="module")
def grpc_client(server: ServerProcess) -> Iterator[GrpcClient]:
    client = ovmsclient.make_grpc_client(server.grpc_url)
    yield client
    client.channel.close()


@pytest.fixture(scope="module")
def http_client(server: ServerProcess) -> Iterator[HttpClient]:
    client = ovmsclient.make_http_client(server.rest_url)
    yield client
    client.session.close()


@pytest.fixture(params=["grpc", "http"])
def client(request: pytest.FixtureRequest) -> Client:
    fixture: Client = request.getfixturevalue(f"{request.param}_client")
    return fixture


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{server.rest_url}", timeout=30) as session:
        yield session


def affine_input(rows: int = 3) -> np.ndarray:
    return RNG.uniform(-10, 10, size=(rows, 4)).astype(np.float32)


def reference(
    repository: Path, model: str, inputs: dict[str, np.ndarray], version: int = 1
) -> dict[str, np.ndarray]:
    return run_in_process(repository / model / str(version), inputs)


def assert_healthy(server: ServerProcess, grpc_client: GrpcClient, http_client: HttpClient) -> None:
    assert server.process.poll() is None, server.log_text()
    data = np.array([[1, 2, 3, 4]], np.float32)
    for client in (grpc_client, http_client):
        np.testing.assert_array_equal(client.predict({"input": data}, "affine")["scaled"], data * 2 + 1)


# ---- ovmsclient, gRPC and REST --------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 2])
def test_predict_affine(client: Client, repository: Path, version: int) -> None:
    data = affine_input()
    outputs = client.predict({"input": data}, "affine", version)
    expected = reference(repository, "affine", {"input": data}, version or 2)
    assert set(outputs) == {"scaled", "total"}
    for name, value in expected.items():
        np.testing.assert_allclose(outputs[name], value, rtol=1e-6)


def test_predict_two_int_inputs(client: Client, repository: Path) -> None:
    a = RNG.integers(-1000, 1000, size=(4, 3), dtype=np.int32)
    b = RNG.integers(-1000, 1000, size=(4, 3), dtype=np.int32)
    outputs = client.predict({"a": a, "b": b}, "add_mul")
    for name, value in reference(repository, "add_mul", {"a": a, "b": b}).items():
        np.testing.assert_array_equal(outputs[name], value)


def test_predict_single_output_is_unnamed(client: Client, repository: Path) -> None:
    data = RNG.uniform(-1, 1, size=(1, 3, 2, 2)).astype(np.float32)
    output = client.predict({"input": data}, "fixed")
    np.testing.assert_allclose(output, reference(repository, "fixed", {"input": data})["out"])


def test_predict_strings(client: Client) -> None:
    texts = ["hello", "", "zażółć gęślą jaźń"]
    for sent in (np.array([t.encode() for t in texts]), np.array(texts)):
        echoed = client.predict({"text": sent}, "echo")
        assert [e.decode() if isinstance(e, bytes) else str(e) for e in echoed.tolist()] == texts


def test_model_metadata(client: Client) -> None:
    expected_io = {
        "inputs": {"input": {"shape": [-1, 4], "dtype": "DT_FLOAT"}},
        "outputs": {
            "scaled": {"shape": [-1, 4], "dtype": "DT_FLOAT"},
            "total": {"shape": [-1], "dtype": "DT_FLOAT"},
        },
    }
    assert client.get_model_metadata("affine") == {"model_version": 2, **expected_io}
    assert client.get_model_metadata("affine", 1) == {"model_version": 1, **expected_io}
    echo = client.get_model_metadata("echo")
    assert echo["inputs"] == {"text": {"shape": [-1, -1], "dtype": "DT_UINT8"}}
    assert echo["outputs"] == {"echo_string": {"shape": [-1], "dtype": "DT_STRING"}}


def test_model_status(client: Client) -> None:
    available = {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    assert client.get_model_status("affine") == {1: available, 2: available}
    assert client.get_model_status("affine", 1) == {1: available}
    [(version, broken)] = client.get_model_status("broken").items()
    assert (version, broken["state"], broken["error_code"]) == (1, "LOADING", 2)
    assert broken["error_message"].startswith("UNKNOWN - cannot read")  # a failed load says why
    assert "Unable to read the model" in broken["error_message"]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda c: c.predict({"input": affine_input()}, "nope"),
            "ModelNotFoundError",
            "Model with requested name is not found",
        ),
        (
            lambda c: c.predict({"input": affine_input()}, "affine", 7),
            "ModelNotFoundError",
            "Model with requested version is not found",
        ),
        (
            lambda c: c.get_model_metadata("nope"),
            "ModelNotFoundError",
            "Model with requested name is not found",
        ),
        (
            lambda c: c.get_model_metadata("affine", 9),
            "ModelNotFoundError",
            "Model with requested version is not found",
        ),
        (
            lambda c: c.get_model_metadata("broken"),
            "ModelNotFoundError",
            "Model with requested version is not found",
        ),
        (
            lambda c: c.get_model_status("nope"),
            "ModelNotFoundError",
            "Model with requested name is not found",
        ),
        (
            lambda c: c.get_model_status("affine", 3),
            "ModelNotFoundError",
            "Model with requested version is not found",
        ),
        (
            lambda c: c.predict({"input": np.ones((2, 5), np.float32)}, "affine"),
            "InvalidInputError",
            "Invalid input shape - Expected: (-1,4); Actual: (2,5); input name: input",
        ),
        (
            lambda c: c.predict({"input": np.ones((1, 3, 2, 3), np.float32)}, "fixed"),
            "InvalidInputError",
            "Invalid input shape - Expected: (1,3,2,2); Actual: (1,3,2,3); input name: input",
        ),
        (
            lambda c: c.predict({"input": np.ones(4, np.float32)}, "affine"),
            "InvalidInputError",
            "Invalid number of shape dimensions - Expected: (-1,4); Actual: (4); input name: input",
        ),
        (
            lambda c: c.predict({"a": np.ones((1, 3), np.int32)}, "add_mul"),
            "InvalidInputError",
            "Invalid number of inputs - Expected: 2; Actual: 1",
        ),
        (
            lambda c: c.predict({"a": np.ones((1, 3), np.int32), "c": np.ones((1, 3), np.int32)}, "add_mul"),
            "InvalidInputError",
            "Missing input with specific name - Required input: b",
        ),
    ],
)
def test_errors(client: Client, call: Callable[[Client], object], error: str, message: str) -> None:
    with pytest.raises(getattr(ovmsclient, error)) as raised:
        call(client)
    assert message in str(raised.value)


def test_wrong_precision(client: Client) -> None:
    if isinstance(client, HttpClient):  # JSON numbers take the model's type: ints are valid FP32 values
        np.testing.assert_array_equal(
            client.predict({"input": np.ones((1, 4), np.int32)}, "affine")["total"], [4]
        )
        return
    with pytest.raises(ovmsclient.InvalidInputError, match="Invalid input precision"):
        client.predict({"input": np.ones((1, 4), np.int32)}, "affine")


def test_scalars_as_ovmsclient_sends_them(client: Client) -> None:
    """A numpy scalar goes as a one-element [1] tensor (gRPC: in float_val): a clear shape error here."""
    with pytest.raises(
        ovmsclient.InvalidInputError, match=r"Invalid number of shape dimensions.*Actual: \(1\)"
    ):
        client.predict({"input": np.float32(2)}, "affine")


# ---- raw gRPC: what ovmsclient does not send ----------------------------------------------------


def typed_tensor(field: str, dtype: int, values: list[Any], shape: list[int]) -> Any:
    tensor = tensor_pb2.TensorProto(dtype=dtype)
    for d in shape:
        tensor.tensor_shape.dim.add(size=d)
    getattr(tensor, field).extend(values)
    return tensor


def raw_predict(grpc_client: GrpcClient, model: str, inputs: dict[str, Any], **spec: Any) -> Any:
    request = predict_pb2.PredictRequest(**spec)
    request.model_spec.name = model
    for name, tensor in inputs.items():
        request.inputs[name].CopyFrom(tensor)
    return grpc_client.prediction_service_stub.Predict(request, timeout=10)


def test_typed_fields(grpc_client: GrpcClient, repository: Path) -> None:
    data = affine_input(2)
    tensor = typed_tensor("float_val", types_pb2.DT_FLOAT, data.ravel().tolist(), [2, 4])
    response = raw_predict(grpc_client, "affine", {"input": tensor})
    scaled = response.outputs["scaled"]
    assert scaled.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in scaled.tensor_shape.dim] == [2, 4]
    result = np.frombuffer(scaled.tensor_content, np.float32).reshape(2, 4)
    np.testing.assert_allclose(result, reference(repository, "affine", {"input": data})["scaled"], rtol=1e-6)
    a = typed_tensor("int_val", types_pb2.DT_INT32, [1, 2, 3], [1, 3])
    b = typed_tensor("int_val", types_pb2.DT_INT32, [4, 5, 6], [1, 3])
    response = raw_predict(grpc_client, "add_mul", {"a": a, "b": b})
    assert np.frombuffer(response.outputs["product"].tensor_content, np.int32).tolist() == [4, 10, 18]


def test_output_filter(grpc_client: GrpcClient) -> None:
    tensor = typed_tensor("float_val", types_pb2.DT_FLOAT, [1, 2, 3, 4], [1, 4])
    response = raw_predict(grpc_client, "affine", {"input": tensor}, output_filter=["total"])
    assert list(response.outputs) == ["total"]
    assert not response.HasField("model_spec")


def test_output_filter_asking_twice_is_invalid(grpc_client: GrpcClient) -> None:
    tensor = typed_tensor("float_val", types_pb2.DT_FLOAT, [1, 2, 3, 4], [1, 4])
    with pytest.raises(grpc.RpcError) as raised:
        raw_predict(grpc_client, "affine", {"input": tensor}, output_filter=["total", "total"])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "Duplicate output in request - output name: total"


def test_value_count_mismatch(grpc_client: GrpcClient) -> None:
    tensor = typed_tensor("float_val", types_pb2.DT_FLOAT, [1, 2, 3], [1, 4])
    with pytest.raises(grpc.RpcError) as raised:
        raw_predict(grpc_client, "affine", {"input": tensor})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        "Invalid number of values in tensor proto container - Expected: 4; Actual: 3; field: float_val; "
        "input name: input"
    )


def test_metadata_field_must_be_signature_def(grpc_client: GrpcClient) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["inputs"])
    request.model_spec.name = "affine"
    with pytest.raises(grpc.RpcError) as raised:
        grpc_client.prediction_service_stub.GetModelMetadata(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("Invalid signature name")


def test_metadata_signature_def_any(grpc_client: GrpcClient) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "affine"
    response = grpc_client.prediction_service_stub.GetModelMetadata(request, timeout=10)
    assert response.model_spec.name == "affine"
    assert response.model_spec.version.value == 2
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature = get_model_metadata_pb2.SignatureDefMap.FromString(packed.value).signature_def[
        "serving_default"
    ]
    assert signature.method_name == "tensorflow/serving/predict"


def test_unimplemented_and_reload(grpc_client: GrpcClient) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        grpc_client.prediction_service_stub.Classify(classification_pb2.ClassificationRequest(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    reply = grpc_client.model_service_stub.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(), timeout=10
    )
    assert reply.status.error_code == 0


def test_missing_model_spec(grpc_client: GrpcClient) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        grpc_client.prediction_service_stub.Predict(predict_pb2.PredictRequest(), timeout=10)
    assert (raised.value.code(), raised.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "model_spec missing in request",
    )


# ---- curl-style REST --------------------------------------------------------------------------------


def post(http: httpx.Client, path: str, body: object) -> httpx.Response:
    return http.post(path, json=body)


def test_rest_row_and_column_formats(http: httpx.Client, repository: Path) -> None:
    data = affine_input(2)
    expected = reference(repository, "affine", {"input": data})
    rows = post(http, "/v1/models/affine:predict", {"instances": data.tolist()}).json()["predictions"]
    named_rows = post(http, "/v1/models/affine:predict", {"instances": [{"input": r} for r in data.tolist()]})
    assert named_rows.json()["predictions"] == rows
    for i, row in enumerate(rows):
        np.testing.assert_allclose(row["scaled"], expected["scaled"][i], rtol=1e-6)
        np.testing.assert_allclose(row["total"], expected["total"][i], rtol=1e-6)
    columns = post(http, "/v1/models/affine/versions/1:predict", {"inputs": data.tolist()})
    named_columns = post(http, "/v1/models/affine/versions/1:predict", {"inputs": {"input": data.tolist()}})
    assert columns.headers["content-type"] == "application/json"
    assert columns.json() == named_columns.json()
    np.testing.assert_allclose(columns.json()["outputs"]["total"], expected["total"], rtol=1e-6)


def test_rest_single_output(http: httpx.Client) -> None:
    data = np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2) - 6
    answer = post(http, "/v1/models/fixed:predict", {"inputs": data.tolist()})
    assert answer.json() == {"outputs": np.maximum(data, 0).tolist()}
    answer = post(http, "/v1/models/fixed:predict", {"instances": data.tolist()})
    assert answer.json() == {"predictions": np.maximum(data, 0).tolist()}


def test_rest_strings_and_b64(http: httpx.Client) -> None:
    answer = post(http, "/v1/models/echo:predict", {"instances": ["hello", "zażółć"]})
    assert answer.json() == {"predictions": ["hello", "zażółć"]}
    b64 = [{"b64": base64.b64encode(b"bin\x01").decode()}]
    assert post(http, "/v1/models/echo:predict", {"inputs": {"text": b64}}).json() == {"outputs": ["bin\x01"]}


def test_rest_status_and_metadata_json(http: httpx.Client) -> None:
    status = http.get("/v1/models/affine/versions/2")
    assert status.headers["content-type"] == "application/json"
    assert status.json() == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": "OK"}}
        ]
    }
    assert [
        s["version"] for s in http.get("/v1/models/affine/labels/stable").json()["model_version_status"]
    ] == [
        "1",
        "2",
    ]
    metadata = http.get("/v1/models/affine/metadata").json()
    assert metadata["modelSpec"] == {"name": "affine", "signatureName": "", "version": "2"}
    signature = metadata["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    assert signature["inputs"]["input"]["tensorShape"]["dim"] == [
        {"size": "-1", "name": ""},
        {"size": "4", "name": ""},
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        (
            "POST",
            "/v1/models/nope:predict",
            {"inputs": [[1]]},
            404,
            "Model with requested name is not found - name: nope",
        ),
        (
            "POST",
            "/v1/models/affine/versions/5:predict",
            {"inputs": [[1]]},
            404,
            "Model with requested version is not found",
        ),
        (
            "POST",
            "/v1/models/affine/versions/99999999999999999999:predict",
            {},
            404,
            "Model with requested version is not found",
        ),
        ("GET", "/v1/models", None, 404, "Model with requested name is not found"),
        ("GET", "/v1/models/nope/metadata", None, 404, "Model with requested name is not found"),
        ("GET", "/v1/models/affine/versions/3", None, 404, "Model with requested version is not found"),
        (
            "POST",
            "/v1/models/affine:predict",
            {"inputs": [[1, 2, 3]]},
            400,
            "Invalid input shape - Expected: (-1,4); Actual: (1,3)",
        ),
        (
            "POST",
            "/v1/models/affine:predict",
            {"instances": [[1, 2, 3, 4], [1]]},
            400,
            "Could not parse instance content",
        ),
        (
            "POST",
            "/v1/models/affine:predict",
            {"instances": [], "inputs": []},
            400,
            "Invalid JSON structure. Could not detect row or column format",
        ),
        (
            "POST",
            "/v1/models/add_mul:predict",
            {"inputs": [[1, 2, 3]]},
            400,
            "Inputs inside buffer does not match expected format.",
        ),
        ("POST", "/v1/models/affine:predict", b"{not json", 400, "The file is not valid json"),
        ("POST", "/v1/models/affine:classify", {}, 404, "Requested REST resource not found"),
        ("POST", "/v1/models/affine:regress", {}, 404, "Requested REST resource not found"),
        ("GET", "/v1/models/affine:predict", None, 406, "Unsupported method"),
        ("POST", "/v1/models/affine", {}, 406, "Unsupported method"),
        ("PUT", "/v1/models/affine", {}, 406, "Unsupported method"),
        ("GET", "/v1/models/affine/versions/x", None, 400, "Invalid request URL"),
        ("GET", "/v1/models/affine/extra/metadata", None, 400, "Invalid request URL"),
    ],
)
def test_rest_errors(
    http: httpx.Client, method: str, path: str, body: object, status: int, error: str
) -> None:
    content = body if isinstance(body, bytes) else None
    answer = http.request(method, path, json=None if content is not None else body, content=content)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"error"}
    assert answer.json()["error"].startswith(error), answer.json()


def test_server_still_serves_after_errors(
    server: ServerProcess, grpc_client: GrpcClient, http_client: HttpClient
) -> None:
    assert_healthy(server, grpc_client, http_client)
