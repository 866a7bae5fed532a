from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritonclient.grpc import _utils as triton_grpc_utils
from tritonclient.grpc import service_pb2 as triton_pb2

from ovms_cli import types
from ovms_cli._proto.grpc_predict_v2_pb2 import (
    InferParameter,
    InferTensorContents,
    ModelInferRequest,
    ModelInferResponse,
)
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol import kserve_grpc
from ovms_cli.types import Array, InferenceResponse, ModelMetadata, TensorMetadata

InputTensor = ModelInferRequest.InferInputTensor


def triton_request(
    arrays: dict[str, Array],
    *,
    version: str = "",
    request_id: str = "",
    outputs: list[str] | None = None,
    sequence_id: int = 0,
    priority: int = 0,
    parameters: dict[str, object] | None = None,
) -> ModelInferRequest:
    """A request built by tritonclient.grpc, re-read with our stubs to prove wire compatibility."""
    inputs = []
    for name, arr in arrays.items():
        datatype = types.from_numpy(arr.dtype)
        assert datatype is not None
        inputs.append(triton_grpc.InferInput(name, list(arr.shape), datatype.kserve).set_data_from_numpy(arr))
    requested = [triton_grpc.InferRequestedOutput(name) for name in outputs] if outputs is not None else None
    msg = triton_grpc_utils._get_inference_request(
        "model", inputs, version, request_id, requested, sequence_id, False, False, priority, None, parameters
    )
    decoded: ModelInferRequest = ModelInferRequest.FromString(msg.SerializeToString())
    return decoded


def triton_result(resp: InferenceResponse) -> triton_grpc.InferResult:
    """The response as tritonclient reads it; both encoders must put the same bytes on the wire."""
    wire = kserve_grpc.encode_infer_response(resp).SerializeToString()
    assert kserve_grpc.serialize_infer_response(resp) == wire
    return triton_grpc.InferResult(triton_pb2.ModelInferResponse.FromString(wire))


def assert_same(actual: Array, expected: Array) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


# ---- requests ----


def test_decode_tritonclient_request(sample: tuple[str, Array]) -> None:
    _, arr = sample
    request = kserve_grpc.decode_infer_request(triton_request({"in": arr, "other": np.zeros(2, np.int32)}))
    assert list(request.inputs) == ["in", "other"]
    assert_same(request.inputs["in"], arr)
    assert request.model_name == "model"
    assert request.model_version is None


def test_decode_request_fields() -> None:
    msg = triton_request(
        {"x": np.ones(1, np.float32)},
        version="3",
        request_id="req-1",
        outputs=["b", "a"],
        sequence_id=42,
        priority=5,
        parameters={"text": "t", "flag": True, "count": -7},
    )
    request = kserve_grpc.decode_infer_request(msg)
    assert request.model_version == 3
    assert request.id == "req-1"
    assert request.requested_outputs == ("b", "a")
    # tritonclient sends priority as uint64_param (InferParameter field 5, as in Triton's proto).
    assert request.parameters == {
        "text": "t",
        "flag": True,
        "count": -7,
        "sequence_id": 42,
        "sequence_start": False,
        "sequence_end": False,
        "priority": 5,
    }


def test_uint64_parameters_keep_their_full_range_and_doubles_are_refused() -> None:
    msg = ModelInferRequest(model_name="m")
    msg.parameters["sequence_id"].uint64_param = 2**64 - 1
    assert kserve_grpc.decode_infer_request(msg).parameters == {"sequence_id": 2**64 - 1}
    msg.parameters["ratio"].double_param = 0.5
    with pytest.raises(InvalidInput, match="Could not parse request parameters"):
        kserve_grpc.decode_infer_request(msg)


def test_decode_typed_contents(json_sample: tuple[str, Array]) -> None:
    datatype, arr = json_sample
    field = {
        "BOOL": "bool_contents",
        "INT8": "int_contents",
        "INT16": "int_contents",
        "INT32": "int_contents",
        "INT64": "int64_contents",
        "UINT8": "uint_contents",
        "UINT16": "uint_contents",
        "UINT32": "uint_contents",
        "UINT64": "uint64_contents",
        "FP32": "fp32_contents",
        "FP64": "fp64_contents",
        "BYTES": "bytes_contents",
    }[datatype]
    contents = InferTensorContents(**{field: arr.ravel().tolist()})
    msg = ModelInferRequest(
        inputs=[InputTensor(name="x", datatype=datatype, shape=arr.shape, contents=contents)]
    )
    assert_same(kserve_grpc.decode_infer_request(msg).inputs["x"], arr)


def test_decode_typed_contents_wrong_field() -> None:
    contents = InferTensorContents(int_contents=[1, 2])
    msg = ModelInferRequest(inputs=[InputTensor(name="x", datatype="FP32", shape=[2], contents=contents)])
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(msg)
    assert info.value.message == (
        "Could not parse input content. Not valid ndarray detected - FP32 values belong in "
        "contents.fp32_contents, got values in contents.int_contents; input name: x"
    )


def test_decode_typed_fp16_is_rejected() -> None:
    msg = ModelInferRequest(inputs=[InputTensor(name="x", datatype="FP16", shape=[1])])
    with pytest.raises(InvalidInput, match="FP16 data must be sent in binary form"):
        kserve_grpc.decode_infer_request(msg)


def test_decode_unknown_datatype() -> None:
    msg = ModelInferRequest(
        inputs=[InputTensor(name="x", datatype="BF16", shape=[1])], raw_input_contents=[b"ab"]
    )
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(msg)
    assert info.value.message == "Invalid input precision - Unknown datatype: BF16; input name: x"


def test_decode_rejects_contents_with_raw() -> None:
    msg = ModelInferRequest(
        inputs=[
            InputTensor(name="a", datatype="INT8", shape=[1]),
            InputTensor(name="b", datatype="INT8", shape=[1], contents=InferTensorContents(int_contents=[1])),
        ],
        raw_input_contents=[b"\x01", b"\x02"],
    )
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(msg)
    assert info.value.message == (
        "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
        "ModelInferRequest::raw_input_contents is not allowed - Detected buffer in InferInputTensor contents "
        "for input: b"
    )


def test_decode_rejects_raw_count_mismatch() -> None:
    msg = triton_request({"a": np.ones(1, np.int8), "b": np.ones(1, np.int8)})
    del msg.raw_input_contents[1]
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(msg)
    assert (
        info.value.message == "Invalid number of raw_input_contents - Expected: 2 (one per input); Actual: 1"
    )


def test_decode_rejects_duplicate_inputs() -> None:
    msg = triton_request({"a": np.ones(1, np.int8)})
    msg.inputs.append(msg.inputs[0])
    msg.raw_input_contents.append(msg.raw_input_contents[0])
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(msg)
    assert info.value.message == "Duplicate input in request - input name: a"


def test_decode_rejects_wrong_raw_size() -> None:
    msg = triton_request({"a": np.ones(3, np.float32)})
    msg.inputs[0].shape[0] = 4
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(msg)
    assert info.value.message == (
        "Invalid content size of tensor proto - Expected: 16 bytes; Actual: 12 bytes; input name: a"
    )


def test_decode_rejects_negative_dimension() -> None:
    msg = triton_request({"a": np.ones(1, np.float32)})
    msg.inputs[0].shape[0] = -1
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(msg)
    assert info.value.message == 'input "a": "shape" must be a list of non-negative integers, got [-1]'


def test_decode_rejects_bad_version() -> None:
    with pytest.raises(InvalidInput) as info:
        kserve_grpc.decode_infer_request(triton_request({"a": np.ones(1, np.int8)}, version="v1"))
    assert info.value.message == "invalid model version format in request"


def test_decode_rejects_shared_memory_input() -> None:
    msg = triton_request({"a": np.ones(1, np.int8)})
    msg.inputs[0].parameters["shared_memory_region"].string_param = "region"
    with pytest.raises(InvalidInput, match='input "a": parameter "shared_memory_region" is not supported'):
        kserve_grpc.decode_infer_request(msg)


def test_parse_version_is_exported() -> None:
    assert kserve_grpc.parse_version("") is None
    assert kserve_grpc.parse_version("12") == 12


# ---- responses ----


def test_encode_response_reads_back_in_tritonclient(sample: tuple[str, Array]) -> None:
    datatype, arr = sample
    resp = InferenceResponse("model", 2, {"out": arr, "second": np.arange(3, dtype=np.int64)}, id="r1")
    result = triton_result(resp)
    assert_same(result.as_numpy("out"), arr)
    assert_same(result.as_numpy("second"), np.arange(3, dtype=np.int64))
    pb = result.get_response()
    assert pb.model_name == "model"
    assert pb.model_version == "2"
    assert pb.id == "r1"
    assert [o.datatype for o in pb.outputs] == [datatype, "INT64"]
    assert [list(o.shape) for o in pb.outputs] == [list(arr.shape), [3]]
    assert not any(o.HasField("contents") for o in pb.outputs)


def test_encode_response_layouts_and_parameters() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    resp = InferenceResponse(
        "m", 1, {"t": arr.T, "s": np.array(2.5)}, parameters={"a": 1, "b": True, "c": "x"}
    )
    encoded = kserve_grpc.encode_infer_response(resp)
    assert encoded.raw_output_contents[0] == arr.T.tobytes()
    assert encoded.raw_output_contents[1] == np.float64(2.5).tobytes()
    assert list(encoded.outputs[1].shape) == []
    params = encoded.parameters
    assert (params["a"].int64_param, params["b"].bool_param, params["c"].string_param) == (1, True, "x")
    assert encoded.id == ""


def test_serialize_response_with_large_outputs() -> None:
    # lengths of 2**7 .. 2**21 bytes need multi-byte varints
    outputs = {f"o{n}": np.ones(2**n, np.uint8) for n in (7, 14, 21)}
    result = triton_result(InferenceResponse("m", 1, outputs, parameters={"k": "v"}))
    for name, arr in outputs.items():
        assert_same(result.as_numpy(name), arr)


def test_encode_response_unsupported_dtype() -> None:
    with pytest.raises(InternalError):
        kserve_grpc.encode_infer_response(InferenceResponse("m", 1, {"c": np.zeros(1, np.complex128)}))


def test_encode_model_metadata() -> None:
    meta = ModelMetadata(
        name="resnet",
        versions=(1, 3),
        inputs=(TensorMetadata("0", types.FP32, (1, -1, 224, 3)),),
        outputs=(TensorMetadata("1463", types.STRING, ()),),
    )
    msg = kserve_grpc.encode_model_metadata(meta)
    assert msg.name == "resnet"
    assert list(msg.versions) == ["1", "3"]
    assert msg.platform == "OpenVINO"
    assert (msg.inputs[0].name, msg.inputs[0].datatype, list(msg.inputs[0].shape)) == (
        "0",
        "FP32",
        [1, -1, 224, 3],
    )
    assert (msg.outputs[0].name, msg.outputs[0].datatype, list(msg.outputs[0].shape)) == ("1463", "BYTES", [])


def test_infer_parameter_kinds_round_trip() -> None:
    msg = ModelInferRequest(
        parameters={"b": InferParameter(bool_param=False), "i": InferParameter(int64_param=0)}
    )
    assert kserve_grpc.decode_infer_request(msg).parameters == {"b": False, "i": 0}
    assert isinstance(ModelInferResponse(), ModelInferResponse)


# ---- property: whatever tritonclient sends and reads back survives the codec ----

NUMERIC = [d.numpy for d in types.ALL if d is not types.BYTES]
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def tensors(draw: st.DrawFn) -> Array:
    if draw(st.booleans()):
        dtype = draw(st.sampled_from(NUMERIC))
        return draw(hnp.arrays(dtype, shapes))
    return draw(hnp.arrays(np.object_, shapes, elements=st.binary(max_size=8)))


@settings(max_examples=80, deadline=None)
@given(st.lists(tensors(), min_size=1, max_size=3))
def test_round_trip_through_tritonclient(arrays: list[Array]) -> None:
    named = {f"t{i}": arr for i, arr in enumerate(arrays)}
    request = kserve_grpc.decode_infer_request(triton_request(named))
    for name, arr in named.items():
        assert_same(request.inputs[name], arr)
    result = triton_result(InferenceResponse("m", 1, request.inputs))
    for name, arr in named.items():
        assert_same(result.as_numpy(name), arr)
