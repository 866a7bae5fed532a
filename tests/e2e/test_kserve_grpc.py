"""KServe v2 over gRPC against a real ``ovms serve`` process, with the real ``tritonclient.grpc``.

Typed ``contents`` requests (which tritonclient never sends) go through the project's own stubs
over a plain ``grpc.insecure_channel``.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from builders import reshape_by_input_model, run_in_process, write_ir
from e2e.server_metadata import EXTENSIONS
from tritonclient.utils import InferenceServerException

from ovms_cli import __version__
from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli._proto import grpc_predict_v2_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from conftest import ServerProcess

NOT_FOUND = "StatusCode.NOT_FOUND"
INVALID_ARGUMENT = "StatusCode.INVALID_ARGUMENT"
RNG = np.random.default_rng(20240501)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    with grpcclient.InferenceServerClient(server.grpc_url) as triton:
        yield triton


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(server.grpc_url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def tensor(name: str, array: np.ndarray, datatype: str) -> grpcclient.InferInput:
    infer_input = grpcclient.InferInput(name, list(array.shape), datatype)
    infer_input.set_data_from_numpy(array)
    return infer_input


def affine_input(rows: int = 3) -> np.ndarray:
    return RNG.uniform(-10, 10, size=(rows, 4)).astype(np.float32)


def assert_server_healthy(server: ServerProcess, client: grpcclient.InferenceServerClient) -> None:
    """The process is alive and a good request still gets the right answer."""
    assert server.process.poll() is None, server.log_text()
    data = np.array([[1, 2, 3, 4]], np.float32)
    result = client.infer("affine", [tensor("input", data, "FP32")])
    np.testing.assert_array_equal(result.as_numpy("scaled"), data * 2 + 1)
    np.testing.assert_array_equal(result.as_numpy("total"), [10])


def expect_error(call: Callable[[], object], status: str) -> str:
    with pytest.raises(InferenceServerException) as raised:
        call()
    assert raised.value.status() == status, raised.value
    return str(raised.value.message())


# --- health and metadata ---------------------------------------------------------------------------


def test_server_is_live_and_ready(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()


@pytest.mark.parametrize(
    ("model", "version"),
    [("affine", ""), ("affine", "1"), ("affine", "2"), ("add_mul", ""), ("fixed", ""), ("echo", "1")],
)
def test_model_is_ready(client: grpcclient.InferenceServerClient, model: str, version: str) -> None:
    assert client.is_model_ready(model, version) is True


def test_broken_model_is_not_ready(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_model_ready("broken", "1") is False


def test_broken_model_has_no_default_version(client: grpcclient.InferenceServerClient) -> None:
    """No version AVAILABLE: the default version is missing (spec §3.6), as REST's 404 says too."""
    message = expect_error(lambda: client.is_model_ready("broken"), NOT_FOUND)
    assert message.startswith("Model with requested version is not found")


@pytest.mark.parametrize(
    ("model", "version"), [("no_such_model", ""), ("affine", "3"), ("no_such_model", "1")]
)
def test_ready_of_unknown_model_or_version_is_not_found(
    client: grpcclient.InferenceServerClient, model: str, version: str
) -> None:
    message = expect_error(lambda: client.is_model_ready(model, version), NOT_FOUND)
    assert "not found" in message


def test_ready_with_a_malformed_version_is_invalid_argument(client: grpcclient.InferenceServerClient) -> None:
    message = expect_error(lambda: client.is_model_ready("affine", "one"), INVALID_ARGUMENT)
    assert message == "invalid model version format in request"


def test_server_metadata(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata.name == "OpenVINO Model Server"
    assert metadata.version == __version__
    assert list(metadata.extensions) == EXTENSIONS


EXPECTED_METADATA = {
    "affine": {
        "versions": ["1", "2"],
        "inputs": [("input", "FP32", [-1, 4])],
        "outputs": [("scaled", "FP32", [-1, 4]), ("total", "FP32", [-1])],
    },
    "add_mul": {
        "versions": ["1"],
        "inputs": [("a", "INT32", [-1, 3]), ("b", "INT32", [-1, 3])],
        "outputs": [("sum", "INT32", [-1, 3]), ("product", "INT32", [-1, 3])],
    },
    "fixed": {
        "versions": ["1"],
        "inputs": [("input", "FP32", [1, 3, 2, 2])],
        "outputs": [("out", "FP32", [1, 3, 2, 2])],
    },
    "echo": {
        "versions": ["1"],
        "inputs": [("text", "UINT8", [-1, -1])],
        "outputs": [("echo_string", "BYTES", [-1])],
    },
}


def _tensors(entries: object) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, list(t.shape)) for t in entries]  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", sorted(EXPECTED_METADATA))
def test_model_metadata(client: grpcclient.InferenceServerClient, model: str) -> None:
    metadata = client.get_model_metadata(model)
    expected = EXPECTED_METADATA[model]
    assert metadata.name == model
    assert metadata.platform == "OpenVINO"
    assert list(metadata.versions) == expected["versions"]
    assert _tensors(metadata.inputs) == expected["inputs"]
    assert _tensors(metadata.outputs) == expected["outputs"]


@pytest.mark.parametrize("version", ["1", "2"])
def test_metadata_of_a_specific_version(client: grpcclient.InferenceServerClient, version: str) -> None:
    metadata = client.get_model_metadata("affine", version)
    assert metadata.name == "affine"
    assert list(metadata.versions) == ["1", "2"]
    assert _tensors(metadata.inputs) == EXPECTED_METADATA["affine"]["inputs"]
    assert _tensors(metadata.outputs) == EXPECTED_METADATA["affine"]["outputs"]


@pytest.mark.parametrize(("model", "version"), [("no_such_model", ""), ("affine", "9"), ("broken", "")])
def test_metadata_of_unknown_or_failed_model_is_not_found(
    client: grpcclient.InferenceServerClient, model: str, version: str
) -> None:
    expect_error(lambda: client.get_model_metadata(model, version), NOT_FOUND)


# --- inference compared with OpenVINO in process ---------------------------------------------------


def test_affine_ir_matches_openvino(client: grpcclient.InferenceServerClient, repository: Path) -> None:
    data = affine_input(5)
    result = client.infer("affine", [tensor("input", data, "FP32")])
    expected = run_in_process(repository / "affine" / "2", {"input": data})
    for name in ("scaled", "total"):
        np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=1e-6)
        assert result.as_numpy(name).dtype == np.float32
    assert result.get_output("scaled").shape == [5, 4]
    assert result.get_output("total").shape == [5]


def test_add_mul_onnx_matches_openvino(client: grpcclient.InferenceServerClient, repository: Path) -> None:
    a = RNG.integers(-1000, 1000, size=(4, 3), dtype=np.int32)
    b = RNG.integers(-1000, 1000, size=(4, 3), dtype=np.int32)
    result = client.infer("add_mul", [tensor("a", a, "INT32"), tensor("b", b, "INT32")])
    expected = run_in_process(repository / "add_mul" / "1", {"a": a, "b": b})
    np.testing.assert_array_equal(result.as_numpy("sum"), expected["sum"])
    np.testing.assert_array_equal(result.as_numpy("product"), expected["product"])
    np.testing.assert_array_equal(result.as_numpy("sum"), a + b)
    assert result.as_numpy("product").dtype == np.int32


def test_fixed_ir_matches_openvino(client: grpcclient.InferenceServerClient, repository: Path) -> None:
    data = RNG.normal(size=(1, 3, 2, 2)).astype(np.float32)
    result = client.infer("fixed", [tensor("input", data, "FP32")])
    expected = run_in_process(repository / "fixed" / "1", {"input": data})
    np.testing.assert_array_equal(result.as_numpy("out"), expected["out"])
    np.testing.assert_array_equal(result.as_numpy("out"), np.maximum(data, 0))


def test_echo_bytes_round_trip(client: grpcclient.InferenceServerClient) -> None:
    words = np.array([b"hello", "w\u00f6rld".encode(), b"", b"a longer sentence"], dtype=np.object_)
    result = client.infer("echo", [tensor("text", words, "BYTES")])
    output = result.get_output("echo_string")
    assert output.datatype == "BYTES"
    assert list(output.shape) == [4]
    assert result.as_numpy("echo_string").tolist() == words.tolist()


@pytest.mark.parametrize("version", ["1", "2"])
def test_explicit_version_is_served(client: grpcclient.InferenceServerClient, version: str) -> None:
    data = affine_input()
    result = client.infer("affine", [tensor("input", data, "FP32")], model_version=version)
    response = result.get_response()
    assert response.model_name == "affine"
    assert response.model_version == version
    np.testing.assert_allclose(result.as_numpy("scaled"), data * 2 + 1, rtol=1e-6)


def test_default_version_is_the_highest(client: grpcclient.InferenceServerClient) -> None:
    result = client.infer("affine", [tensor("input", affine_input(), "FP32")], request_id="req-7")
    response = result.get_response()
    assert response.model_version == "2"
    assert response.id == "req-7"


def test_requested_outputs_select_outputs(client: grpcclient.InferenceServerClient) -> None:
    data = affine_input()
    result = client.infer(
        "affine", [tensor("input", data, "FP32")], outputs=[grpcclient.InferRequestedOutput("total")]
    )
    assert [o.name for o in result.get_response().outputs] == ["total"]
    np.testing.assert_allclose(result.as_numpy("total"), data.sum(axis=1), rtol=1e-5)
    everything = client.infer("affine", [tensor("input", data, "FP32")])
    assert [o.name for o in everything.get_response().outputs] == ["scaled", "total"]


# --- typed contents vs raw_input_contents ----------------------------------------------------------


def _typed_request(data: np.ndarray, version: str = "") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="affine", model_version=version, id="typed")
    request.inputs.add(name="input", datatype="FP32", shape=list(data.shape)).contents.fp32_contents.extend(
        data.ravel().tolist()
    )
    return request


def _raw_request(data: np.ndarray) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="affine", id="raw")
    request.inputs.add(name="input", datatype="FP32", shape=list(data.shape))
    request.raw_input_contents.append(data.tobytes())
    return request


def _outputs(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    assert len(response.raw_output_contents) == len(response.outputs)
    return {
        out.name: np.frombuffer(raw, np.float32).reshape(list(out.shape))
        for out, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


def test_typed_contents_and_raw_contents_agree(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    data = affine_input(4)
    typed = stub.ModelInfer(_typed_request(data), timeout=30)
    raw = stub.ModelInfer(_raw_request(data), timeout=30)
    assert (typed.model_name, typed.model_version, typed.id) == ("affine", "2", "typed")
    assert raw.id == "raw"
    typed_out, raw_out = _outputs(typed), _outputs(raw)
    assert typed_out.keys() == raw_out.keys() == {"scaled", "total"}
    for name in typed_out:
        np.testing.assert_array_equal(typed_out[name], raw_out[name])
    np.testing.assert_allclose(typed_out["scaled"], data * 2 + 1, rtol=1e-6)
    assert [(o.name, o.datatype, list(o.shape)) for o in typed.outputs] == [
        ("scaled", "FP32", [4, 4]),
        ("total", "FP32", [4]),
    ]


def test_typed_int_contents_on_onnx(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.full((2, 3), -3, dtype=np.int32)
    request = pb.ModelInferRequest(model_name="add_mul")
    for name, array in (("a", a), ("b", b)):
        request.inputs.add(name=name, datatype="INT32", shape=[2, 3]).contents.int_contents.extend(
            array.ravel().tolist()
        )
    response = stub.ModelInfer(request, timeout=30)
    outputs = {
        o.name: np.frombuffer(raw, np.int32).reshape(list(o.shape))
        for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }
    np.testing.assert_array_equal(outputs["sum"], a + b)
    np.testing.assert_array_equal(outputs["product"], a * b)


def test_typed_bytes_contents_on_echo(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    request = pb.ModelInferRequest(model_name="echo")
    request.inputs.add(name="text", datatype="BYTES", shape=[2]).contents.bytes_contents.extend(
        [b"ab", b"xyz"]
    )
    response = stub.ModelInfer(request, timeout=30)
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [("echo_string", "BYTES", [2])]
    assert response.raw_output_contents[0] == b"\x02\x00\x00\x00ab\x03\x00\x00\x00xyz"


def test_an_output_asked_twice_is_invalid(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    request = _typed_request(affine_input(1))
    request.outputs.add(name="total")
    request.outputs.add(name="total")
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "Duplicate output in request - output name: total"


def test_raw_and_typed_in_one_request_is_invalid(
    server: ServerProcess, client: grpcclient.InferenceServerClient, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    data = affine_input(1)
    request = _typed_request(data)
    request.raw_input_contents.append(data.tobytes())
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(
        "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
        "ModelInferRequest::raw_input_contents is not allowed"
    )
    assert "input: input" in raised.value.details()
    assert_server_healthy(server, client)


@pytest.mark.parametrize(
    ("count", "expected"),
    [(7, "Expected: 8 values; Actual: 7 values; input name: input"), (9, "Expected: 8 values; Actual: 9")],
)
def test_typed_contents_with_wrong_count_is_invalid(
    server: ServerProcess,
    client: grpcclient.InferenceServerClient,
    stub: pb_grpc.GRPCInferenceServiceStub,
    count: int,
    expected: str,
) -> None:
    request = pb.ModelInferRequest(model_name="affine")
    request.inputs.add(name="input", datatype="FP32", shape=[2, 4]).contents.fp32_contents.extend(
        [1.0] * count
    )
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("Invalid number of values in tensor proto container")
    assert expected in raised.value.details()
    assert_server_healthy(server, client)


def test_raw_contents_with_wrong_byte_count_is_invalid(
    server: ServerProcess, client: grpcclient.InferenceServerClient, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    request = _raw_request(affine_input(2))
    request.raw_input_contents[0] = request.raw_input_contents[0][:-4]
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        "Invalid content size of tensor proto - Expected: 32 bytes; Actual: 28 bytes; input name: input"
    )
    assert_server_healthy(server, client)


# --- errors through tritonclient -------------------------------------------------------------------


def _input(name: str = "input", shape: tuple[int, ...] = (2, 4), dtype: type = np.float32) -> np.ndarray:
    return np.ones(shape, dtype=dtype)


ERROR_CASES = {
    "wrong shape": (
        "affine",
        lambda: [tensor("input", _input(shape=(2, 3)), "FP32")],
        INVALID_ARGUMENT,
        "Invalid input shape - Expected: (-1,4); Actual: (2,3); input name: input",
    ),
    "wrong rank": (
        "affine",
        lambda: [tensor("input", _input(shape=(8,)), "FP32")],
        INVALID_ARGUMENT,
        "Invalid number of shape dimensions - Expected: (-1,4); Actual: (8); input name: input",
    ),
    "wrong batch on a fixed model": (
        "fixed",
        lambda: [tensor("input", _input(shape=(2, 3, 2, 2)), "FP32")],
        INVALID_ARGUMENT,
        "Invalid input batch size - Expected: 1; Actual: 2; input name: input",
    ),
    "wrong dtype": (
        "affine",
        lambda: [tensor("input", _input(dtype=np.int32), "INT32")],
        INVALID_ARGUMENT,
        "Invalid input precision - Expected: FP32; Actual: INT32; input name: input",
    ),
    "missing input": (
        "add_mul",
        lambda: [tensor("a", _input(shape=(1, 3), dtype=np.int32), "INT32")],
        INVALID_ARGUMENT,
        "Invalid number of inputs - Expected: 2; Actual: 1",
    ),
    "misnamed input": (
        "affine",
        lambda: [tensor("inputs", _input(), "FP32")],
        INVALID_ARGUMENT,
        "Missing input with specific name - Required input: input",
    ),
    "extra input": (
        "affine",
        lambda: [tensor("input", _input(), "FP32"), tensor("extra", _input(), "FP32")],
        INVALID_ARGUMENT,
        "Invalid number of inputs - Expected: 1; Actual: 2",
    ),
    "unknown model": (
        "no_such_model",
        lambda: [tensor("input", _input(), "FP32")],
        NOT_FOUND,
        "Model with requested name is not found",
    ),
    "broken model": (
        "broken",
        lambda: [tensor("input", _input(), "FP32")],
        NOT_FOUND,
        "Model with requested version is not found",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_invalid_request_is_rejected_and_server_survives(
    server: ServerProcess, client: grpcclient.InferenceServerClient, case: str
) -> None:
    model, inputs, status, message = ERROR_CASES[case]
    text = expect_error(lambda: client.infer(model, inputs()), status)
    assert text.startswith(message), text
    assert_server_healthy(server, client)


def test_unknown_version_is_not_found(
    server: ServerProcess, client: grpcclient.InferenceServerClient
) -> None:
    text = expect_error(
        lambda: client.infer("affine", [tensor("input", _input(), "FP32")], model_version="3"), NOT_FOUND
    )
    assert text.startswith("Model with requested version is not found"), text
    assert_server_healthy(server, client)


def test_unknown_requested_output_is_invalid(
    server: ServerProcess, client: grpcclient.InferenceServerClient
) -> None:
    text = expect_error(
        lambda: client.infer(
            "affine", [tensor("input", _input(), "FP32")], outputs=[grpcclient.InferRequestedOutput("nope")]
        ),
        INVALID_ARGUMENT,
    )
    assert "nope" in text
    assert_server_healthy(server, client)


# --- concurrency -----------------------------------------------------------------------------------


def test_fifty_concurrent_requests_each_get_their_own_answer(
    server: ServerProcess, client: grpcclient.InferenceServerClient
) -> None:
    count = 50
    inputs = {
        index: np.full((index % 7 + 1, 4), index, np.float32) + np.arange(4, dtype=np.float32)
        for index in range(count)
    }
    done: queue.Queue[tuple[int, object, object]] = queue.Queue()
    for index, data in inputs.items():
        client.async_infer(
            "affine",
            [tensor("input", data, "FP32")],
            callback=lambda result, error, index=index: done.put((index, result, error)),
            request_id=str(index),
            model_version="1" if index % 2 else "",
        )
    seen: set[int] = set()
    for _ in range(count):
        index, result, error = done.get(timeout=60)
        assert error is None, error
        assert isinstance(result, grpcclient.InferResult)
        assert result.get_response().id == str(index)
        assert result.get_response().model_version == ("1" if index % 2 else "2")
        np.testing.assert_array_equal(result.as_numpy("scaled"), inputs[index] * 2 + 1)
        np.testing.assert_array_equal(result.as_numpy("total"), inputs[index].sum(axis=1))
        seen.add(index)
    assert seen == set(inputs)
    assert_server_healthy(server, client)


def test_an_inference_whose_inputs_fail_midway_is_invalid_and_the_next_one_is_served(
    spawn_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    write_ir(reshape_by_input_model(), tmp_path / "reshape", 1)
    server = spawn_server(
        ["--model_name", "reshape", "--model_path", str(tmp_path / "reshape"), "--nireq", "1"]
    )
    client = grpcclient.InferenceServerClient(server.grpc_url)
    x = np.arange(6, dtype=np.float32)

    def infer(shape: list[int]) -> grpcclient.InferResult:
        return client.infer(
            "reshape", [tensor("x", x, "FP32"), tensor("s", np.array(shape, np.int64), "INT64")]
        )

    with pytest.raises(InferenceServerException) as failed:
        infer([4, 4])
    assert failed.value.status() == INVALID_ARGUMENT
    assert str(failed.value.message()).startswith(
        "Invalid input shape or value for the model - [cpu]reshape: "
    )
    np.testing.assert_array_equal(infer([3, 2]).as_numpy("y"), x.reshape(3, 2))
