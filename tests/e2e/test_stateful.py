"""Stateful models (spec §9, issue 14) against a real ``ovms serve`` process, with real clients: ovmsclient and
raw TFS stubs over gRPC, httpx on TFS REST (row and column) and KServe REST, tritonclient over KServe gRPC and
HTTP, including Triton's ``sequence_id`` / ``sequence_start`` / ``sequence_end`` parameters.

Every answer is checked against the same model run in-process on an infer request of its own, which keeps the
sequence's state itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import openvino as ov
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from builders import write_ir
from ovmsclient.tfs_compat.base.errors import ModelServerError
from ovmsclient.tfs_compat.grpc.serving_client import GrpcClient
from ovmsclient.tfs_compat.grpc.tensors import make_ndarray
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from server_process import ServerProcess, start_server
from stateful_builders import (
    CELL_WIDTH,
    RUNNING_SUM_WIDTH,
    recurrent_cell_model,
    running_sum_model,
    simple_sequence_model,
    tensor_iterator_rnn_model,
)
from tritonclient.utils import InferenceServerException

START, NONE, END = 1, 0, 2
CLEANER_SECONDS = 1.0
RNN_CHUNK = 3
MISSING = "Sequence with provided ID does not exist"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stateful")
    write_ir(running_sum_model(), root / "running_sum")
    write_ir(recurrent_cell_model(), root / "cell")
    write_ir(recurrent_cell_model(stateful=False), root / "plain_cell")
    write_ir(simple_sequence_model(), root / "simple_sequence")
    write_ir(tensor_iterator_rnn_model(RNN_CHUNK), root / "rnn")
    kept = {"stateful": True, "idle_sequence_cleanup": False}
    models = [
        {"name": "sum", "base_path": "running_sum", "max_sequence_number": 500, **kept},
        {"name": "small", "base_path": "running_sum", "max_sequence_number": 2, **kept},
        {"name": "cell", "base_path": "cell", **kept},
        {"name": "simple_sequence", "base_path": "simple_sequence", **kept},
        {"name": "cleaned", "base_path": "running_sum", "stateful": True, "idle_sequence_cleanup": True},
        {"name": "plain_cell", "base_path": "plain_cell"},
        {"name": "rnn", "base_path": "rnn", "low_latency_transformation": True, **kept},
    ]
    config = {"model_config_list": [{"config": m} for m in models]}
    (root / "config.json").write_text(json.dumps(config, indent=2))
    return root


def start_with_cleaner(args: list[str], log: Path, seconds: float = CLEANER_SECONDS) -> ServerProcess:
    """A server whose idle cleaner runs every ``seconds`` (the documented test aid)."""
    os.environ["OVMS_SEQUENCE_CLEANER_POLL_WAIT_SECONDS"] = str(seconds)
    try:
        return start_server(args, log)
    finally:
        del os.environ["OVMS_SEQUENCE_CLEANER_POLL_WAIT_SECONDS"]


@pytest.fixture(scope="module")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "ovms.log"
    args = ["--config_path", str(repository / "config.json"), "--metrics_enable", "--log_level", "DEBUG"]
    running = start_with_cleaner(args, log)
    yield running
    assert running.stop() == 0, running.log_text()


@pytest.fixture(scope="module")
def tfs_grpc(server: ServerProcess) -> Iterator[GrpcClient]:
    client = ovmsclient.make_grpc_client(server.grpc_url)
    yield client
    client.channel.close()


@pytest.fixture(scope="module")
def tfs_stub(server: ServerProcess) -> Iterator[prediction_service_pb2_grpc.PredictionServiceStub]:
    with grpc.insecure_channel(server.grpc_url) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{server.rest_url}", timeout=60) as session:
        yield session


@pytest.fixture(scope="module")
def kserve_grpc(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def kserve_http(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(server.rest_url)
    yield client
    client.close()


# ---- the reference and the four ways in ------------------------------------------------------------------


def reference(model: ov.Model, steps: list[np.ndarray]) -> list[np.ndarray]:
    """The sequence run in-process on an infer request of its own, on ``model`` as the server reads it from its
    IR (``ov.save_model`` stores the weights as FP16)."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_ir(model, Path(folder)) / "1" / "model.xml"
        compiled = ov.Core().compile_model(str(path), "CPU")
    request = compiled.create_infer_request()
    return [np.array(request.infer({0: x})[0], copy=True) for x in steps]


def sum_input(value: float) -> np.ndarray:
    return np.full((1, RUNNING_SUM_WIDTH), value, np.float32)


class ServingError(Exception):
    """What a client got instead of outputs: the API's status (HTTP number or gRPC code name) and message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


Call = Callable[[str, str, np.ndarray, int, int], tuple[np.ndarray, int]]


def _specials(sequence_id: int | None, control: int | None) -> dict[str, np.ndarray]:
    specials = {}
    if sequence_id is not None:
        specials["sequence_id"] = np.array([sequence_id], np.uint64)
    if control is not None:
        specials["sequence_control_input"] = np.array([control], np.uint32)
    return specials


@pytest.fixture
def via_ovmsclient(tfs_grpc: GrpcClient) -> Call:
    return _ovmsclient_call(tfs_grpc)


def _ovmsclient_call(tfs_grpc: GrpcClient) -> Call:
    """ovmsclient's ``predict`` (its errors keep the gRPC code only for NOT_FOUND and INVALID_ARGUMENT)."""

    def call(model: str, name: str, x: np.ndarray, sequence_id: int, control: int) -> tuple[np.ndarray, int]:
        try:
            outputs = tfs_grpc.predict({name: x, **_specials(sequence_id, control)}, model)
        except (ModelServerError, ConnectionError) as error:
            raise ServingError(type(error).__name__, str(error)) from None
        return outputs[_output_name(outputs, "sequence_id")], int(outputs["sequence_id"][0])

    return call


@pytest.fixture
def via_tfs_grpc(tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub) -> Call:
    """TFS gRPC Predict with ovmsclient's ``make_tensor_proto``, on a raw stub to see the status codes."""

    def call(model: str, name: str, x: np.ndarray, sequence_id: int, control: int) -> tuple[np.ndarray, int]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        for key, value in {name: x, **_specials(sequence_id, control)}.items():
            request.inputs[key].CopyFrom(ovmsclient.make_tensor_proto(value))
        try:
            response = tfs_stub.Predict(request, timeout=60)
        except grpc.RpcError as error:
            raise ServingError(error.code().name, str(error.details())) from None
        outputs = {key: make_ndarray(tensor) for key, tensor in response.outputs.items()}
        assert response.outputs["sequence_id"].dtype == types_pb2.DT_UINT64
        return outputs[_output_name(outputs, "sequence_id")], int(outputs["sequence_id"][0])

    return call


def _output_name(outputs: dict[str, np.ndarray], other: str) -> str:
    [name] = [key for key in outputs if key != other]
    return name


def _rest_error(answer: httpx.Response) -> ServingError:
    return ServingError(str(answer.status_code), answer.json()["error"])


@pytest.fixture
def via_tfs_rest_columns(http: httpx.Client) -> Call:
    return _tfs_columns_call(http)


def _tfs_columns_call(http: httpx.Client) -> Call:
    def call(model: str, name: str, x: np.ndarray, sequence_id: int, control: int) -> tuple[np.ndarray, int]:
        body = {
            "inputs": {name: x.tolist(), "sequence_id": [sequence_id], "sequence_control_input": [control]}
        }
        answer = http.post(f"/v1/models/{model}:predict", json=body)
        if answer.status_code != 200:
            raise _rest_error(answer)
        outputs = answer.json()["outputs"]
        [sequence] = outputs.pop("sequence_id")
        [values] = outputs.values()
        return np.array(values, x.dtype), sequence

    return call


@pytest.fixture
def via_tfs_rest_rows(http: httpx.Client) -> Call:
    def call(model: str, name: str, x: np.ndarray, sequence_id: int, control: int) -> tuple[np.ndarray, int]:
        instance = {name: x[0].tolist(), "sequence_id": sequence_id, "sequence_control_input": control}
        answer = http.post(f"/v1/models/{model}:predict", json={"instances": [instance]})
        if answer.status_code != 200:
            raise _rest_error(answer)
        [row] = answer.json()["predictions"]
        sequence = row.pop("sequence_id")
        [values] = row.values()
        return np.array([values], x.dtype), sequence

    return call


def _kserve_inputs(module: Any, name: str, x: np.ndarray, sequence_id: int, control: int) -> list[Any]:
    datatype = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32"}[x.dtype]
    inputs = [module.InferInput(name, list(x.shape), datatype)]
    inputs[0].set_data_from_numpy(x)
    for special, value in _specials(sequence_id, control).items():
        tensor = module.InferInput(special, [1], "UINT64" if special == "sequence_id" else "UINT32")
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    return inputs


def _triton_error(error: InferenceServerException) -> ServingError:
    return ServingError(str(error.status()), str(error.message()))


def _kserve_call(client: Any, module: Any) -> Call:
    """``call`` through tritonclient's ``client`` (``module``: tritonclient.grpc or tritonclient.http)."""

    def call(model: str, name: str, x: np.ndarray, sequence_id: int, control: int) -> tuple[np.ndarray, int]:
        try:
            result = client.infer(model, _kserve_inputs(module, name, x, sequence_id, control))
        except InferenceServerException as error:
            raise _triton_error(error) from None
        response = result.get_response()
        names = (
            [o.name for o in response.outputs]
            if module is grpcclient
            else [o["name"] for o in response["outputs"]]
        )
        outputs = {n: result.as_numpy(n) for n in names}
        assert outputs["sequence_id"].dtype == np.uint64
        return outputs[_output_name(outputs, "sequence_id")], int(outputs["sequence_id"][0])

    return call


@pytest.fixture
def via_kserve_grpc(kserve_grpc: grpcclient.InferenceServerClient) -> Call:
    return _kserve_call(kserve_grpc, grpcclient)


@pytest.fixture
def via_kserve_http(kserve_http: httpclient.InferenceServerClient) -> Call:
    return _kserve_call(kserve_http, httpclient)


WAYS = ["via_tfs_grpc", "via_tfs_rest_columns", "via_tfs_rest_rows", "via_kserve_grpc", "via_kserve_http"]


@pytest.fixture(params=WAYS)
def call(request: pytest.FixtureRequest) -> Call:
    found: Call = request.getfixturevalue(request.param)
    return found


@pytest.fixture(params=["via_ovmsclient", *WAYS])
def any_client(request: pytest.FixtureRequest) -> Call:
    """``call``, and ovmsclient's own ``predict`` besides, for tests of answers rather than error codes."""
    found: Call = request.getfixturevalue(request.param)
    return found


_NEXT_ID = iter(range(1_000, 10**9, 1_000))


def fresh_ids(count: int = 1) -> list[int]:
    base = next(_NEXT_ID)
    return [base + i for i in range(count)]


# ---- START / continue / END, on every API ------------------------------------------------------------------


def test_start_continue_end_keeps_each_running_sum(any_client: Call) -> None:
    [sequence_id] = fresh_ids()
    steps = [sum_input(v) for v in (1.5, -2.0, 4.0, 0.25)]
    controls = [START, NONE, NONE, END]
    answers = [any_client("sum", "x", x, sequence_id, c) for x, c in zip(steps, controls, strict=True)]
    assert [sequence for _, sequence in answers] == [sequence_id] * 4
    np.testing.assert_array_equal([out for out, _ in answers], reference(running_sum_model(), steps))
    with pytest.raises(ServingError, match=MISSING):  # END removed it
        any_client("sum", "x", steps[0], sequence_id, NONE)


def test_the_recurrent_cell_with_two_variables_matches_openvino(any_client: Call) -> None:
    [sequence_id] = fresh_ids()
    rng = np.random.default_rng(sequence_id)
    steps = [rng.standard_normal((1, CELL_WIDTH)).astype(np.float32) for _ in range(5)]
    controls = [START, NONE, NONE, NONE, END]
    outs = [any_client("cell", "x", x, sequence_id, c)[0] for x, c in zip(steps, controls, strict=True)]
    np.testing.assert_allclose(outs, reference(recurrent_cell_model(), steps), rtol=1e-5, atol=1e-6)


def test_start_without_an_id_gets_a_server_assigned_one(any_client: Call) -> None:
    first = any_client("sum", "x", sum_input(1), 0, START)
    second = any_client("sum", "x", sum_input(1), 0, START)
    assert 0 not in (first[1], second[1]) and first[1] != second[1]
    out, sequence = any_client("sum", "x", sum_input(2), first[1], END)
    assert sequence == first[1]
    np.testing.assert_array_equal(out, sum_input(3))
    any_client("sum", "x", sum_input(0), second[1], END)


# ---- errors (spec §9.2, §9.3) with their statuses ---------------------------------------------------------

# (HTTP status, gRPC code) of each error.
NOT_FOUND, ALREADY_EXISTS, UNAVAILABLE, INVALID = (
    ("404", "NOT_FOUND"),
    ("409", "ALREADY_EXISTS"),
    ("503", "UNAVAILABLE"),
    ("400", "INVALID_ARGUMENT"),
)


def assert_error(call: Call, status: tuple[str, str], message: str, *args: Any) -> None:
    with pytest.raises(ServingError) as raised:
        call(*args)
    assert message in raised.value.message
    http_status, grpc_code = status
    assert raised.value.status in (http_status, f"StatusCode.{grpc_code}", grpc_code), raised.value


def test_sequence_errors_and_their_statuses(call: Call, server: ServerProcess) -> None:
    [sequence_id] = fresh_ids()
    x = sum_input(1)
    assert_error(call, NOT_FOUND, MISSING, "sum", "x", x, sequence_id, NONE)
    assert_error(call, NOT_FOUND, MISSING, "sum", "x", x, sequence_id, END)
    call("sum", "x", x, sequence_id, START)
    assert_error(
        call, ALREADY_EXISTS, "Sequence with provided ID already exists", "sum", "x", x, sequence_id, START
    )
    assert_error(call, INVALID, "Unexpected value of sequence control input", "sum", "x", x, sequence_id, 3)
    assert_error(call, INVALID, "Sequence ID has not been provided in request inputs", "sum", "x", x, 0, NONE)
    assert_error(call, INVALID, "Sequence ID has not been provided in request inputs", "sum", "x", x, 0, END)
    np.testing.assert_array_equal(
        call("sum", "x", x, sequence_id, END)[0], 2 * x
    )  # the errors changed nothing
    assert server.process.poll() is None


def test_max_sequence_number_is_unavailable_until_one_ends(call: Call) -> None:
    ids = fresh_ids(3)
    x = sum_input(1)
    call("small", "x", x, ids[0], START)
    call("small", "x", x, ids[1], START)
    try:
        message = "Max sequence number has been reached. Could not create new sequence."
        assert_error(call, UNAVAILABLE, message, "small", "x", x, ids[2], START)
        assert_error(call, UNAVAILABLE, message, "small", "x", x, 0, START)
        call("small", "x", x, ids[0], END)
        call("small", "x", x, ids[2], START)
    finally:  # leave "small" empty for the next client's run of this test
        for sequence_id in ids:
            with contextlib.suppress(ServingError):
                call("small", "x", x, sequence_id, END)


def _tfs_tensor(dtype: int, shape: list[int] | None, **values: list[int]) -> tensor_pb2.TensorProto:
    tensor = tensor_pb2.TensorProto(dtype=dtype, **values)
    if shape is not None:
        tensor.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(dim=[{"size": d} for d in shape]))
    return tensor


@pytest.mark.parametrize(
    ("special", "message"),
    [
        (
            _tfs_tensor(types_pb2.DT_UINT64, None, uint64_val=[5]),
            "Special input proto does not contain tensor shape information",
        ),
        (
            _tfs_tensor(types_pb2.DT_UINT64, [1, 1], uint64_val=[5]),
            "Invalid number of shape dimensions - Required shape for sequence_id is: (1)",
        ),
        (
            _tfs_tensor(types_pb2.DT_UINT64, [2], uint64_val=[5, 6]),
            "Invalid input shape - Required shape for sequence_id is: (1)",
        ),
        (
            _tfs_tensor(types_pb2.DT_UINT64, [1], int64_val=[5]),
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
        (
            _tfs_tensor(types_pb2.DT_INT32, [1], int_val=[5]),
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
    ],
)
def test_malformed_sequence_id_on_tfs_grpc(
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub, special: tensor_pb2.TensorProto, message: str
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sum"
    request.inputs["x"].CopyFrom(_tfs_tensor(types_pb2.DT_FLOAT, [1, 4], float_val=[1, 2, 3, 4]))
    request.inputs["sequence_id"].CopyFrom(special)
    request.inputs["sequence_control_input"].CopyFrom(_tfs_tensor(types_pb2.DT_UINT32, [1], uint32_val=[1]))
    with pytest.raises(grpc.RpcError) as raised:
        tfs_stub.Predict(request, timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in str(raised.value.details())


def test_control_in_the_wrong_field_on_tfs_grpc(
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sum"
    request.inputs["x"].CopyFrom(_tfs_tensor(types_pb2.DT_FLOAT, [1, 4], float_val=[1, 2, 3, 4]))
    request.inputs["sequence_control_input"].CopyFrom(_tfs_tensor(types_pb2.DT_UINT32, [1], int_val=[1]))
    with pytest.raises(grpc.RpcError) as raised:
        tfs_stub.Predict(request, timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "Could not find sequence control input in expected tensor proto field uint32_val" in str(
        raised.value.details()
    )


@pytest.mark.parametrize(
    ("specials", "message"),
    [
        ({"sequence_id": [-1], "sequence_control_input": [1]}, "Could not parse input content"),
        ({"sequence_id": [[1]], "sequence_control_input": [1]}, "Invalid number of shape dimensions"),
        ({"sequence_id": [1, 2], "sequence_control_input": [1]}, "Invalid input shape"),
        ({"sequence_id": [1], "sequence_control_input": [7]}, "Unexpected value of sequence control input"),
    ],
)
def test_malformed_special_inputs_on_tfs_rest(
    http: httpx.Client, specials: dict[str, Any], message: str
) -> None:
    answer = http.post("/v1/models/sum:predict", json={"inputs": {"x": sum_input(1).tolist(), **specials}})
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_kserve_special_inputs_of_the_wrong_datatype(kserve_grpc: grpcclient.InferenceServerClient) -> None:
    x = grpcclient.InferInput("x", [1, 4], "FP32")
    x.set_data_from_numpy(sum_input(1))
    wrong = grpcclient.InferInput("sequence_id", [1], "INT64")
    wrong.set_data_from_numpy(np.array([5], np.int64))
    with pytest.raises(InferenceServerException) as raised:
        kserve_grpc.infer("sum", [x, wrong])
    assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "Could not find sequence id in expected tensor proto field uint64_val" in str(
        raised.value.message()
    )


def test_a_model_not_stateful_refuses_sequence_inputs_and_parameters(
    kserve_grpc: grpcclient.InferenceServerClient, http: httpx.Client
) -> None:
    zeros = np.zeros((1, CELL_WIDTH), np.float32)
    inputs = [grpcclient.InferInput(n, [1, CELL_WIDTH], "FP32") for n in ("x", "h_in", "c_in")]
    for tensor in inputs:
        tensor.set_data_from_numpy(zeros)
    with pytest.raises(InferenceServerException, match="only accepted by stateful models") as raised:
        kserve_grpc.infer("plain_cell", inputs, sequence_id=5, sequence_start=True)
    assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"
    body = {"inputs": {n: zeros.tolist() for n in ("x", "h_in", "c_in")} | {"sequence_id": [5]}}
    answer = http.post("/v1/models/plain_cell:predict", json=body)
    assert (answer.status_code, answer.json()["error"].split(" - ")[0]) == (400, "Invalid number of inputs")


def test_low_latency_transformation_serves_a_tensor_iterator_in_chunks(
    http: httpx.Client, tmp_path: Path
) -> None:
    """Two requests of 3 steps on the served (LowLatency2) model equal one run of 6 steps of the original."""
    x = np.random.default_rng(5).standard_normal((1, 2 * RNN_CHUNK, RUNNING_SUM_WIDTH)).astype(np.float32)
    h0 = np.zeros((1, RUNNING_SUM_WIDTH), np.float32)
    path = write_ir(tensor_iterator_rnn_model(2 * RNN_CHUNK), tmp_path / "whole") / "1" / "model.xml"
    whole = ov.Core().compile_model(str(path), "CPU").create_infer_request().infer([x, h0])[0]
    [sequence_id] = fresh_ids()
    for chunk, control in ((x[:, :RNN_CHUNK], START), (x[:, RNN_CHUNK:], END)):
        body = {
            "inputs": {
                "x": chunk.tolist(),
                "h0": h0.tolist(),
                "sequence_id": [sequence_id],
                "sequence_control_input": [control],
            }
        }
        answer = http.post("/v1/models/rnn:predict", json=body)
        assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["outputs"]["h"], whole, rtol=1e-5, atol=1e-6)


# ---- many sequences at once ----------------------------------------------------------------------------------


def test_sixteen_interleaved_sequences_from_concurrent_clients(server: ServerProcess) -> None:
    """16 threads, each its own client (TFS gRPC, TFS REST, KServe gRPC, KServe HTTP in turn), each a sequence
    of 12 steps on the recurrent cell: every one gets its own running result."""
    ids = fresh_ids(16)
    rng = np.random.default_rng(7)
    steps = {i: [rng.standard_normal((1, CELL_WIDTH)).astype(np.float32) for _ in range(12)] for i in ids}
    got: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(ids))

    def client(index: int, sequence_id: int) -> None:
        try:
            call = _thread_call(server, index % 4)
            barrier.wait()
            controls = [START] + [NONE] * 10 + [END]
            got[sequence_id] = [
                call("cell", "x", x, sequence_id, c)[0]
                for x, c in zip(steps[sequence_id], controls, strict=True)
            ]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i, s)) for i, s in enumerate(ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    model = recurrent_cell_model()
    for sequence_id in ids:
        np.testing.assert_allclose(
            got[sequence_id], reference(model, steps[sequence_id]), rtol=1e-5, atol=1e-6
        )


def _thread_call(server: ServerProcess, kind: int) -> Call:
    """A client of its own for a thread: ovmsclient, TFS REST, tritonclient gRPC or HTTP (``kind`` 0 to 3)."""
    if kind == 0:
        return _ovmsclient_call(ovmsclient.make_grpc_client(server.grpc_url))
    if kind == 1:
        return _tfs_columns_call(httpx.Client(base_url=f"http://{server.rest_url}", timeout=60))
    module: Any = grpcclient if kind == 2 else httpclient
    return _kserve_call(
        module.InferenceServerClient(server.grpc_url if kind == 2 else server.rest_url), module
    )


# ---- Triton's sequence parameters ----------------------------------------------------------------------------


def _triton_step(client: Any, module: Any, model: str, value: np.ndarray, **sequence: Any) -> np.ndarray:
    """One ``infer`` as Triton's sequence example clients make it: one input, the output asked by name."""
    name, output = ("INPUT", "OUTPUT") if model == "simple_sequence" else ("x", "sum")
    datatype = "INT32" if value.dtype == np.int32 else "FP32"
    tensor = module.InferInput(name, list(value.shape), datatype)
    tensor.set_data_from_numpy(value)
    result = client.infer(model, [tensor], outputs=[module.InferRequestedOutput(output)], **sequence)
    answer: np.ndarray = result.as_numpy(output)
    return answer


@pytest.mark.parametrize("module", [grpcclient, httpclient], ids=["grpc", "http"])
def test_triton_simple_sequence_answers_as_tritons_sequence_examples_expect(
    server: ServerProcess, module: Any
) -> None:
    """Three sequences on ``simple_sequence`` (two integer ids, one UUID string id), each sent start to end with
    ``infer(sequence_id=..., sequence_start=..., sequence_end=...)``: the first answer is INPUT + 1, the others
    INPUT, as Triton's simple sequence example clients check."""
    client = module.InferenceServerClient(server.grpc_url if module is grpcclient else server.rest_url)
    values = [11, 7, 5, 3, 2, 0, 1]
    sent = {
        2000: [0, *values],
        2001: [100, *(-v for v in values)],
        str(uuid.uuid4()): [20, *(-v for v in values)],
    }
    for sequence_id, inputs in sent.items():
        answers = [
            int(
                _triton_step(
                    client,
                    module,
                    "simple_sequence",
                    np.full((1, 1), value, np.int32),
                    sequence_id=sequence_id,
                    sequence_start=index == 0,
                    sequence_end=index == len(inputs) - 1,
                )[0][0]
            )
            for index, value in enumerate(inputs)
        ]
        assert answers == [inputs[0] + 1, *inputs[1:]]
    client.close()


@pytest.mark.parametrize("module", [grpcclient, httpclient], ids=["grpc", "http"])
@pytest.mark.parametrize("sequence_id", [1_000_001, "triton-sequence-a1"], ids=["int", "string"])
def test_triton_sequence_parameters_keep_interleaved_running_sums(
    server: ServerProcess, module: Any, sequence_id: int | str
) -> None:
    client = module.InferenceServerClient(server.grpc_url if module is grpcclient else server.rest_url)
    other = f"{sequence_id}-other" if isinstance(sequence_id, str) else sequence_id + 1
    steps = [sum_input(v) for v in (11, 7, 5, 3, 2, 0, 1)]
    got: dict[int | str, list[np.ndarray]] = {sequence_id: [], other: []}
    for index, x in enumerate(steps):
        flags = {"sequence_start": index == 0, "sequence_end": index == len(steps) - 1}
        got[sequence_id].append(_triton_step(client, module, "sum", x, sequence_id=sequence_id, **flags))
        got[other].append(_triton_step(client, module, "sum", -x, sequence_id=other, **flags))
    np.testing.assert_array_equal(got[sequence_id], reference(running_sum_model(), steps))
    np.testing.assert_array_equal(got[other], reference(running_sum_model(), [-x for x in steps]))
    with pytest.raises(InferenceServerException, match=MISSING):
        _triton_step(client, module, "sum", steps[0], sequence_id=sequence_id)
    client.close()


def test_start_and_end_in_one_request_and_the_two_forms_together(
    kserve_grpc: grpcclient.InferenceServerClient,
) -> None:
    tensor = grpcclient.InferInput("INPUT", [1, 1], "INT32")
    tensor.set_data_from_numpy(np.array([[4]], np.int32))
    for _ in range(2):  # the one-request sequence leaves nothing behind: the same id starts again
        result = kserve_grpc.infer(
            "simple_sequence", [tensor], sequence_id=77, sequence_start=True, sequence_end=True
        )
        assert result.as_numpy("OUTPUT").tolist() == [[5]]  # a first request: INPUT + 1
        assert result.as_numpy("sequence_id").tolist() == [77]
    control = grpcclient.InferInput("sequence_control_input", [1], "UINT32")
    control.set_data_from_numpy(np.array([START], np.uint32))
    with pytest.raises(InferenceServerException, match="Sequence given twice") as raised:
        kserve_grpc.infer("simple_sequence", [tensor, control], sequence_id=78, sequence_start=True)
    assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"


def test_string_and_integer_ids_are_separate_sequences(kserve_grpc: grpcclient.InferenceServerClient) -> None:
    tensor = grpcclient.InferInput("INPUT", [1, 1], "INT32")
    tensor.set_data_from_numpy(np.array([[1]], np.int32))
    kserve_grpc.infer("simple_sequence", [tensor], sequence_id=424242, sequence_start=True)
    result = kserve_grpc.infer("simple_sequence", [tensor], sequence_id="424242", sequence_start=True)
    assert result.as_numpy("sequence_id").tolist() == [b"424242"]  # not ALREADY_EXISTS: another sequence
    for sequence_id in (424242, "424242"):
        result = kserve_grpc.infer("simple_sequence", [tensor], sequence_id=sequence_id, sequence_end=True)
        assert result.as_numpy("OUTPUT").tolist() == [[1]]


# ---- idle cleanup, metrics -----------------------------------------------------------------------------------


def test_idle_sequences_are_cleaned_busy_ones_and_models_without_cleanup_keep_theirs(call: Call) -> None:
    idle, busy, kept = fresh_ids(3)
    x = sum_input(1)
    call("cleaned", "x", x, idle, START)
    call("cleaned", "x", x, busy, START)
    call("sum", "x", x, kept, START)
    deadline = time.monotonic() + 4 * CLEANER_SECONDS
    while time.monotonic() < deadline:  # two visits at least, with a request to `busy` between each
        call("cleaned", "x", x, busy, NONE)
        time.sleep(CLEANER_SECONDS / 4)
    assert_error(call, NOT_FOUND, MISSING, "cleaned", "x", x, idle, NONE)
    call("cleaned", "x", x, busy, END)
    np.testing.assert_array_equal(call("sum", "x", x, kept, END)[0], 2 * x)


def test_metrics_count_sequences(via_kserve_grpc: Call, http: httpx.Client) -> None:
    def sample(family: str) -> float:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith(f'{family}{{name="sum",version="1"}}'):
                return float(line.split()[-1])
        raise AssertionError(f"no {family} series for sum version 1")

    before = {f: sample(f) for f in ("ovms_sequences", "ovms_sequences_started", "ovms_sequences_ended")}
    [sequence_id] = fresh_ids()
    via_kserve_grpc("sum", "x", sum_input(1), sequence_id, START)
    assert sample("ovms_sequences") == before["ovms_sequences"] + 1
    via_kserve_grpc("sum", "x", sum_input(1), sequence_id, END)
    assert sample("ovms_sequences") == before["ovms_sequences"]
    assert sample("ovms_sequences_started") == before["ovms_sequences_started"] + 1
    assert sample("ovms_sequences_ended") == before["ovms_sequences_ended"] + 1
    assert 'ovms_sequences_cleaned{name="cleaned",version="1"}' in http.get("/metrics").text


# ---- reload and config rules ---------------------------------------------------------------------------------


def test_a_reload_drops_the_versions_sequences(tmp_path: Path) -> None:
    write_ir(running_sum_model(), tmp_path / "running_sum")
    config = tmp_path / "config.json"

    def write(nireq: int) -> None:
        entry = {"name": "sum", "base_path": "running_sum", "stateful": True, "nireq": nireq}
        config.write_text(json.dumps({"model_config_list": [{"config": entry}]}))

    write(2)
    server = start_server(
        ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"], tmp_path / "log"
    )
    try:
        with httpx.Client(base_url=f"http://{server.rest_url}", timeout=60) as http:

            def predict(control: int) -> httpx.Response:
                body = {
                    "inputs": {
                        "x": sum_input(1).tolist(),
                        "sequence_id": [9],
                        "sequence_control_input": [control],
                    }
                }
                return http.post("/v1/models/sum:predict", json=body)

            assert predict(START).status_code == 200
            write(3)  # nireq changes: the version reloads
            deadline = time.monotonic() + 60
            answers = []  # 200 until the swap; a request caught mid-swap may get "... is retired" (404)
            while time.monotonic() < deadline:
                answer = predict(NONE)
                answers.append((answer.status_code, answer.text))
                if answer.status_code != 200 and "retired" not in answer.text:
                    break
                time.sleep(0.2)
            assert (answer.status_code, answer.json()["error"]) == (404, MISSING), answers
            started = predict(START)
            assert started.status_code == 200, started.text  # the reloaded version serves sequences
        assert server.process.poll() is None
    finally:
        server.stop()


def test_validate_config_and_serve_refuse_auto_shapes_for_stateful_models(
    tmp_path: Path, repository: Path
) -> None:
    entry = {"name": "sum", "base_path": str(repository / "running_sum"), "stateful": True, "shape": "auto"}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    import subprocess

    from server_process import ovms_script

    checked = subprocess.run(
        [str(ovms_script()), "validate-config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 1
    assert '"auto" is not allowed for stateful models' in checked.stdout
    server = start_server(["--config_path", str(config)], tmp_path / "log", wait_ready=False)
    assert server.process.wait(timeout=120) != 0
    assert '"auto" is not allowed for stateful models' in server.log_text()
