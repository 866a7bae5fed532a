"""The special inputs of stateful models as each codec sets them aside (spec §4.5, §9.2)."""

from __future__ import annotations

import numpy as np
import orjson
import tritonclient.grpc as triton_grpc
from ovmsclient import make_tensor_proto
from tritonclient.grpc import _utils as triton_grpc_utils

from ovms_cli import types
from ovms_cli._proto.grpc_predict_v2_pb2 import ModelInferRequest
from ovms_cli._proto.tensorflow.core.framework.tensor_pb2 import TensorProto
from ovms_cli._proto.tensorflow_serving.apis.predict_pb2 import PredictRequest
from ovms_cli.protocol import kserve_grpc, kserve_rest, tfs_grpc, tfs_rest
from ovms_cli.types import SpecialInput, TensorMetadata

X = np.ones((1, 4), np.float32)


def as_tuple(special: SpecialInput) -> tuple[tuple[int, ...] | None, str, list[int]]:
    return special.shape, special.values.dtype.name, special.values.tolist()


def tfs_request(**tensors: TensorProto) -> PredictRequest:
    request = PredictRequest()
    request.model_spec.name = "m"
    for name, tensor in tensors.items():
        request.inputs[name].CopyFrom(TensorProto.FromString(tensor.SerializeToString()))
    return request


def test_tfs_grpc_keeps_what_ovmsclient_sent() -> None:
    request = tfs_request(
        x=make_tensor_proto(X),
        sequence_id=make_tensor_proto(np.array([7], np.uint64)),
        sequence_control_input=make_tensor_proto(np.array([1], np.uint32)),
    )
    decoded = tfs_grpc.decode_predict_request(request)
    assert list(decoded.inputs) == ["x"]
    assert as_tuple(decoded.special_inputs["sequence_id"]) == ((1,), "uint64", [7])
    assert as_tuple(decoded.special_inputs["sequence_control_input"]) == ((1,), "uint32", [1])


def test_tfs_grpc_reads_the_field_the_value_is_in_and_notes_a_missing_shape() -> None:
    no_shape = TensorProto(dtype=types.U64.tf, uint64_val=[7])
    wrong_field = TensorProto(dtype=types.U64.tf, int64_val=[7])
    wrong_field.tensor_shape.dim.add(size=1)
    string = TensorProto(dtype=types.STRING.tf, string_val=[b"7"])
    decoded = tfs_grpc.decode_predict_request(
        tfs_request(sequence_id=no_shape, sequence_control_input=wrong_field)
    ).special_inputs
    assert as_tuple(decoded["sequence_id"]) == (None, "uint64", [7])
    assert as_tuple(decoded["sequence_control_input"]) == ((1,), "int64", [7])
    strings = tfs_grpc.decode_predict_request(tfs_request(sequence_id=string)).special_inputs
    assert strings["sequence_id"].values.size == 0  # no number at all: the wrong type


def test_tfs_rest_reads_special_inputs_as_uint64_and_uint32_in_both_formats() -> None:
    metadata = [TensorMetadata("x", types.FP32, (1, 4))]
    columns = {"inputs": {"x": X.tolist(), "sequence_id": [2**64 - 1], "sequence_control_input": [2]}}
    rows = {"instances": [{"x": X[0].tolist(), "sequence_id": 3, "sequence_control_input": 0}]}
    decoded, _ = tfs_rest.decode_predict_request(orjson.dumps(columns), "m", None, metadata)
    assert list(decoded.inputs) == ["x"]
    assert as_tuple(decoded.special_inputs["sequence_id"]) == ((1,), "uint64", [2**64 - 1])
    assert as_tuple(decoded.special_inputs["sequence_control_input"]) == ((1,), "uint32", [2])
    decoded, _ = tfs_rest.decode_predict_request(orjson.dumps(rows), "m", None, metadata)
    assert decoded.inputs["x"].shape == (1, 4)
    assert as_tuple(decoded.special_inputs["sequence_id"]) == ((1,), "uint64", [3])


def test_tfs_responses_carry_the_uint64_sequence_id() -> None:
    response = types.InferenceResponse("m", 1, {"sum": X, "sequence_id": np.array([2**64 - 1], np.uint64)})
    body = orjson.loads(tfs_rest.encode_predict_response(response, tfs_rest.Layout.COLUMN))
    assert body["outputs"]["sequence_id"] == [2**64 - 1]
    message = tfs_grpc.encode_predict_response(response)
    assert message.outputs["sequence_id"].dtype == types.U64.tf
    assert np.frombuffer(message.outputs["sequence_id"].tensor_content, np.uint64).tolist() == [2**64 - 1]


def test_kserve_grpc_sets_special_inputs_aside_and_keeps_triton_parameters() -> None:
    inputs = []
    for name, array, datatype in (
        ("x", X, "FP32"),
        ("sequence_id", np.array([9], np.uint64), "UINT64"),
        ("sequence_control_input", np.array([2], np.uint32), "UINT32"),
    ):
        inputs.append(triton_grpc.InferInput(name, list(array.shape), datatype).set_data_from_numpy(array))
    msg = triton_grpc_utils._get_inference_request(
        "m", inputs, "", "", None, "seq-1", True, False, 0, None, None
    )
    decoded = kserve_grpc.decode_infer_request(ModelInferRequest.FromString(msg.SerializeToString()))
    assert list(decoded.inputs) == ["x"]
    assert as_tuple(decoded.special_inputs["sequence_id"]) == ((1,), "uint64", [9])
    assert as_tuple(decoded.special_inputs["sequence_control_input"]) == ((1,), "uint32", [2])
    assert decoded.parameters == {"sequence_id": "seq-1", "sequence_start": True, "sequence_end": False}


def test_kserve_rest_sets_special_inputs_aside() -> None:
    doc = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": X.ravel().tolist()},
            {"name": "sequence_id", "datatype": "UINT64", "shape": [1], "data": [11]},
        ],
        "parameters": {"sequence_start": True},
    }
    decoded, _ = kserve_rest.decode_infer_request(orjson.dumps(doc), None, "m", None)
    assert list(decoded.inputs) == ["x"]
    assert as_tuple(decoded.special_inputs["sequence_id"]) == ((1,), "uint64", [11])
    assert decoded.parameters == {"sequence_start": True}
