"""``ModelStreamInfer`` through tritonclient's ``start_stream``/``async_stream_infer``: answers in
request order, errors in the callback with the stream still open, a client that goes away."""

from __future__ import annotations

import queue
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from e2e.triton_server import triton_server
from server_process import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc

__all__ = ["triton_server"]

TIMEOUT_S = 60


def _inputs(rows: int, first: int) -> list[grpcclient.InferInput]:
    data = (np.arange(16 * rows, dtype=np.int32) + first).reshape(rows, 16)
    inputs = [
        grpcclient.InferInput("INPUT0", [rows, 16], "INT32"),
        grpcclient.InferInput("INPUT1", [rows, 16], "INT32"),
    ]
    inputs[0].set_data_from_numpy(data)
    inputs[1].set_data_from_numpy(np.ones_like(data))
    return inputs


def _collect(client: grpcclient.InferenceServerClient) -> queue.Queue[tuple[Any, Any]]:
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    return answers


def test_answers_come_in_request_order(triton_server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    answers = _collect(client)
    count = 24
    for index in range(count):
        rows = 1 + index % 4  # different batch extents run as different inferences
        client.async_stream_infer("simple_batched", _inputs(rows, index * 100), request_id=str(index))
    for index in range(count):
        result, error = answers.get(timeout=TIMEOUT_S)
        assert error is None
        assert result.get_response().id == str(index)
        rows = 1 + index % 4
        expected = (np.arange(16 * rows, dtype=np.int32) + index * 100).reshape(rows, 16) + 1
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), expected)
    client.stop_stream()


def test_an_error_is_answered_in_order_and_the_stream_stays_open(triton_server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    answers = _collect(client)
    client.async_stream_infer("simple", _inputs(1, 0), request_id="good-1")
    client.async_stream_infer("nope", _inputs(1, 0), request_id="unknown-model")
    client.async_stream_infer("simple", _inputs(2, 0), request_id="wrong-shape")
    client.async_stream_infer("simple", _inputs(1, 5), request_id="good-2")
    first, error = answers.get(timeout=TIMEOUT_S)
    assert error is None and first.get_response().id == "good-1"
    _, error = answers.get(timeout=TIMEOUT_S)
    assert "Model with requested name is not found" in error.message()
    _, error = answers.get(timeout=TIMEOUT_S)
    assert "Invalid input batch size" in error.message()
    last, error = answers.get(timeout=TIMEOUT_S)
    assert error is None and last.get_response().id == "good-2"
    np.testing.assert_array_equal(last.as_numpy("OUTPUT1")[0], np.arange(16) + 4)
    client.stop_stream()


def test_a_client_that_goes_away_leaves_the_server_serving(triton_server: ServerProcess) -> None:
    request = service_pb2.ModelInferRequest(model_name="simple_batched")
    for name in ("INPUT0", "INPUT1"):
        tensor = request.inputs.add(name=name, datatype="INT32", shape=[8, 16])
        assert tensor.name == name
        request.raw_input_contents.append(np.zeros((8, 16), np.int32).tobytes())
    with grpc.insecure_channel(triton_server.grpc_url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = stub.ModelStreamInfer(iter([request] * 200))
        next(call)  # the stream is running; then the client cancels it with 199 answers pending
        call.cancel()
    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    result = client.infer("simple", _inputs(1, 0))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0")[0], np.arange(16) + 1)
    assert triton_server.process.poll() is None
