"""TensorFlow Serving tensor, status and metadata rules, checked against ovmsclient's own protos.

ovmsclient compiles the same .proto files under renamed packages (``ovmsclient.*``); every message
goes through bytes between its classes and ours, which is what the wire does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor
from ovmsclient.tfs_compat.grpc.responses import GrpcModelMetadataResponse, GrpcModelStatusResponse
from ovmsclient.tfs_compat.grpc.tensors import make_ndarray, make_tensor_proto
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2 as client_tensor
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import types_pb2 as client_types
from ovmsclient.tfs_compat.protos.tensorflow.core.protobuf import error_codes_pb2 as client_codes
from ovmsclient.tfs_compat.protos.tensorflow.core.protobuf import meta_graph_pb2 as client_meta_graph
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    classification_pb2 as client_classification,
)
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    get_model_metadata_pb2 as client_metadata,
)
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import get_model_status_pb2 as client_status
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import inference_pb2 as client_inference
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    model_management_pb2 as client_management,
)
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import model_service_pb2 as client_model_service
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2 as client_predict
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    prediction_service_pb2 as client_prediction_service,
)
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import regression_pb2 as client_regression

from ovms_cli import types
from ovms_cli._proto.tensorflow.core.framework import tensor_pb2, types_pb2
from ovms_cli._proto.tensorflow.core.framework.tensor_pb2 import TensorProto
from ovms_cli._proto.tensorflow.core.protobuf import error_codes_pb2, meta_graph_pb2
from ovms_cli._proto.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2,
    predict_pb2,
    prediction_service_pb2,
    regression_pb2,
)
from ovms_cli._proto.tensorflow_serving.apis.model_pb2 import ModelSpec
from ovms_cli._proto.tensorflow_serving.apis.predict_pb2 import PredictRequest
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol import tfs
from ovms_cli.types import Array, ErrorCode, ModelMetadata, State, TensorMetadata, VersionStatus

DT = types_pb2.DataType

# One sample per DataType the API carries (spec Appendix B plus what ovmsclient sends).
SAMPLES: dict[str, Array] = {
    "DT_FLOAT": np.array([[0.1, -2.5, 3e38], [1e-40, 0.0, -0.0]], dtype=np.float32),
    "DT_DOUBLE": np.array([0.1, -1e308, 5e-324], dtype=np.float64),
    "DT_HALF": np.array([[0.1, -65504.0], [6e-8, 1.0]], dtype=np.float16),
    "DT_INT8": np.array([-128, 0, 127], dtype=np.int8),
    "DT_INT16": np.array([[-32768], [32767]], dtype=np.int16),
    "DT_INT32": np.array([-(2**31), 2**31 - 1], dtype=np.int32),
    "DT_INT64": np.array([[-(2**63), 2**63 - 1, 7]], dtype=np.int64),
    "DT_UINT8": np.array([0, 255], dtype=np.uint8),
    "DT_UINT16": np.array([0, 65535], dtype=np.uint16),
    "DT_UINT32": np.array([0, 2**32 - 1], dtype=np.uint32),
    "DT_UINT64": np.array([0, 2**64 - 1], dtype=np.uint64),
    "DT_BOOL": np.array([[True, False, True]], dtype=np.bool_),
}
SCALARS: dict[str, object] = {
    "DT_FLOAT": np.float32(2.5),
    "DT_DOUBLE": None,  # ovmsclient sends a float64 scalar as DT_FLOAT
    "DT_INT8": np.int8(-7),
    "DT_INT16": np.int16(-300),
    "DT_INT32": np.int32(70000),
    "DT_INT64": np.int64(2**40),
    "DT_UINT8": np.uint8(200),
    "DT_UINT16": np.uint16(60000),
    "DT_UINT32": np.uint32(2**32 - 1),
    "DT_UINT64": np.uint64(2**64 - 1),
    "DT_BOOL": np.bool_(True),
}


def ours(client_message: Any) -> TensorProto:
    """An ovmsclient TensorProto re-read with our stubs."""
    return TensorProto.FromString(client_message.SerializeToString())


def theirs(message: TensorProto) -> Any:
    return client_tensor.TensorProto.FromString(message.SerializeToString())


def assert_same(actual: Array, expected: Array) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


# ---- the protos themselves ----

MODULE_PAIRS = [
    (tensor_pb2, client_tensor),
    (meta_graph_pb2, client_meta_graph),
    (predict_pb2, client_predict),
    (get_model_metadata_pb2, client_metadata),
    (get_model_status_pb2, client_status),
    (model_management_pb2, client_management),
    (classification_pb2, client_classification),
    (regression_pb2, client_regression),
    (inference_pb2, client_inference),
]


def _fields(descriptor: Descriptor) -> dict[str, tuple[int, int, str]]:
    """Each field's number, wire type and the unqualified name of its message or enum type."""
    out = {}
    for field in descriptor.fields:
        kind = field.message_type or field.enum_type
        out[field.name] = (field.number, field.type, kind.name if kind else "")
    return out


def _messages(descriptor: Descriptor) -> list[Descriptor]:
    return [descriptor, *(m for nested in descriptor.nested_types for m in _messages(nested))]


@pytest.mark.parametrize(("mine", "client"), MODULE_PAIRS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_messages_match_ovmsclient_field_for_field(mine: Any, client: Any) -> None:
    client_messages = {
        m.name: m for top in client.DESCRIPTOR.message_types_by_name.values() for m in _messages(top)
    }
    for top in mine.DESCRIPTOR.message_types_by_name.values():
        for message in _messages(top):
            expected = _fields(client_messages[message.name])
            actual = _fields(message)
            assert {k: expected[k] for k in actual} == actual, message.full_name
    assert mine.DESCRIPTOR.package.split(".")[1:] == client.DESCRIPTOR.package.split(".")[1:]


def _enum_values(enum: EnumDescriptor) -> dict[str, int]:
    return {value.name: value.number for value in enum.values}


def test_enums_match_ovmsclient() -> None:
    assert _enum_values(DT.DESCRIPTOR) == _enum_values(client_types.DataType.DESCRIPTOR)
    assert _enum_values(error_codes_pb2.Code.DESCRIPTOR) == _enum_values(client_codes.Code.DESCRIPTOR)
    ours_state = get_model_status_pb2.ModelVersionStatus.State.DESCRIPTOR
    assert _enum_values(ours_state) == _enum_values(client_status.ModelVersionStatus.State.DESCRIPTOR)


def test_packages_and_services_are_tensorflow_serving() -> None:
    assert predict_pb2.DESCRIPTOR.package == "tensorflow.serving"
    assert tensor_pb2.DESCRIPTOR.package == "tensorflow"
    for mine, client in [
        (prediction_service_pb2, client_prediction_service),
        (model_service_pb2, client_model_service),
    ]:
        for name, service in mine.DESCRIPTOR.services_by_name.items():
            assert service.full_name == f"tensorflow.serving.{name}"
            assert [m.name for m in service.methods] == [
                m.name for m in client.DESCRIPTOR.services_by_name[name].methods
            ]


def test_core_enums_have_tensorflow_numbers() -> None:
    for state in State:
        assert get_model_status_pb2.ModelVersionStatus.State.Value(state.name) == state.value
    for code in ErrorCode:
        assert error_codes_pb2.Code.Value(code.name) == code.value
    for dtype in types.ALL:
        assert tfs.dtype_of(dtype.tf, "x") is dtype


# ---- model spec ----


def predict_request(spec: ModelSpec | None) -> PredictRequest:
    return PredictRequest() if spec is None else PredictRequest(model_spec=spec)


def test_model_target() -> None:
    spec = ModelSpec(name="m")
    assert tfs.model_target(predict_request(spec)) == ("m", None)
    spec.version.value = 0
    assert tfs.model_target(predict_request(spec)) == ("m", None)
    spec.version.value = 7
    assert tfs.model_target(predict_request(spec)) == ("m", 7)
    assert tfs.model_target(predict_request(ModelSpec(name="m", version_label="stable"))) == ("m", None)


def test_missing_model_spec() -> None:
    with pytest.raises(InvalidInput, match=r"^model_spec missing in request$"):
        tfs.model_target(predict_request(None))


# ---- requests: what ovmsclient sends ----


@pytest.mark.parametrize("name", list(SAMPLES))
def test_arrays_arrive_in_tensor_content(name: str) -> None:
    arr = SAMPLES[name]
    message = ours(make_tensor_proto(arr))
    assert message.dtype == DT.Value(name)
    assert message.tensor_content
    assert_same(tfs.tensor_to_array("x", message), arr)


def test_tensor_content_is_not_copied() -> None:
    message = ours(make_tensor_proto(np.arange(12, dtype=np.float32).reshape(3, 4)))
    arr = tfs.tensor_to_array("x", message)
    assert not arr.flags.owndata


@pytest.mark.parametrize("name", [n for n, v in SCALARS.items() if v is not None])
def test_scalars_arrive_in_typed_fields(name: str) -> None:
    value = SCALARS[name]
    message = ours(make_tensor_proto(value))
    assert message.dtype == DT.Value(name)
    assert not message.tensor_content
    assert_same(tfs.tensor_to_array("x", message), np.array([value]))


def test_python_scalars_as_ovmsclient_types_them() -> None:
    assert_same(tfs.tensor_to_array("x", ours(make_tensor_proto(3))), np.array([3], np.int32))
    assert_same(tfs.tensor_to_array("x", ours(make_tensor_proto(3.5))), np.array([3.5], np.float32))
    assert_same(tfs.tensor_to_array("x", ours(make_tensor_proto(False))), np.array([False]))


@pytest.mark.parametrize(
    ("field", "dtype", "values"),
    [
        ("float_val", "DT_FLOAT", [1.5, -2.0, 3.25, 0.0]),
        ("double_val", "DT_DOUBLE", [1e300, -2.0, 0.1, 5e-324]),
        ("int_val", "DT_INT32", [1, -2, 2**31 - 1, -(2**31)]),
        ("int_val", "DT_INT16", [1, -2, 32767, -32768]),
        ("int_val", "DT_INT8", [1, -2, 127, -128]),
        ("int_val", "DT_UINT8", [0, 1, 254, 255]),
        ("int_val", "DT_UINT16", [0, 1, 65534, 65535]),
        ("int64_val", "DT_INT64", [2**62, -(2**63), 0, 1]),
        ("uint32_val", "DT_UINT32", [0, 1, 2**32 - 2, 2**32 - 1]),
        ("uint64_val", "DT_UINT64", [0, 1, 2**64 - 2, 2**64 - 1]),
        ("bool_val", "DT_BOOL", [True, False, False, True]),
    ],
)
def test_typed_fields_as_tensorflow_writes_them(field: str, dtype: str, values: list[object]) -> None:
    message = client_tensor.TensorProto(dtype=client_types.DataType.Value(dtype))
    message.tensor_shape.dim.add(size=2)
    message.tensor_shape.dim.add(size=2)
    getattr(message, field).extend(values)
    expected = np.array(values, dtype=tfs.dtype_of(DT.Value(dtype), "x").numpy)
    assert_same(tfs.tensor_to_array("x", ours(message)), expected.reshape(2, 2))


def test_half_val_holds_bit_patterns() -> None:
    halves = np.array([0.5, -65504.0, 6e-8], dtype=np.float16)
    message = client_tensor.TensorProto(dtype=client_types.DT_HALF, half_val=halves.view(np.uint16).tolist())
    message.tensor_shape.dim.add(size=3)
    assert_same(tfs.tensor_to_array("x", ours(message)), halves)


def test_rank_zero_scalar_as_tensorflow_writes_it() -> None:
    message = client_tensor.TensorProto(dtype=client_types.DT_FLOAT, float_val=[4.5])
    assert_same(tfs.tensor_to_array("x", ours(message)), np.array(4.5, np.float32))


@pytest.mark.parametrize(
    "value",
    [
        b"\xff\xd8 jpeg",
        "zażółć",
        np.array([b"a", b"", b"a\x00b"]),
        np.array(["one", "two"]),
        np.array([[b"a", b"b"], [b"c", b"d"]]),
    ],
)
def test_strings_arrive_as_object_arrays_of_bytes(value: object) -> None:
    message = ours(make_tensor_proto(value))
    assert message.dtype == DT.DT_STRING
    arr = tfs.tensor_to_array("x", message)
    assert arr.dtype == np.object_
    expected = np.array(value if isinstance(value, np.ndarray) else [value])
    assert arr.shape == expected.shape
    assert [type(item) for item in arr.ravel()] == [bytes] * arr.size
    assert arr.ravel().tolist() == [
        v if isinstance(v, bytes) else v.encode() for v in expected.ravel().tolist()
    ]


def test_empty_tensor() -> None:
    arr = tfs.tensor_to_array("x", ours(make_tensor_proto(np.zeros((0, 4), np.float32))))
    assert arr.shape == (0, 4)


# ---- request errors ----


def test_unsupported_dtype() -> None:
    message = ours(make_tensor_proto(np.array([1 + 2j, 3j], np.complex64)))
    with pytest.raises(InvalidInput) as raised:
        tfs.tensor_to_array("x", message)
    assert (
        raised.value.message == "Invalid input precision - Unsupported DataType: DT_COMPLEX64; input name: x"
    )


def test_unknown_dtype_number() -> None:
    with pytest.raises(InvalidInput, match="Unsupported DataType: 99; input name: x"):
        tfs.dtype_of(99, "x")


def test_negative_dimension() -> None:
    message = TensorProto(dtype=DT.DT_FLOAT)
    message.tensor_shape.dim.add(size=-1)
    with pytest.raises(InvalidInput) as raised:
        tfs.tensor_to_array("x", message)
    assert raised.value.message == (
        "Invalid input shape - Negative dimension size is not acceptable: (-1); input name: x"
    )


def test_content_size_mismatch() -> None:
    message = ours(make_tensor_proto(np.ones((2, 2), np.float32)))
    message.tensor_shape.dim[0].size = 3
    with pytest.raises(InvalidInput) as raised:
        tfs.tensor_to_array("x", message)
    assert raised.value.message == (
        "Invalid content size of tensor proto - Expected: 24 bytes; Actual: 16 bytes; input name: x"
    )


def test_value_count_mismatch() -> None:
    message = ours(make_tensor_proto(np.float32(1)))
    message.tensor_shape.dim[0].size = 4
    with pytest.raises(InvalidInput) as raised:
        tfs.tensor_to_array("x", message)
    assert raised.value.message == (
        "Invalid number of values in tensor proto container - Expected: 4; Actual: 1; field: float_val; "
        "input name: x"
    )


def test_values_in_the_wrong_field() -> None:
    message = TensorProto(dtype=DT.DT_FLOAT, int_val=[1, 2])
    message.tensor_shape.dim.add(size=2)
    with pytest.raises(InvalidInput) as info:
        tfs.tensor_to_array("x", message)
    assert info.value.message == (
        "Invalid content of tensor proto - DT_FLOAT values belong in tensor_content or float_val, "
        "got values in int_val; input name: x"
    )


def test_string_count_mismatch() -> None:
    message = ours(make_tensor_proto(np.array([b"a", b"b"])))
    message.tensor_shape.dim[0].size = 3
    with pytest.raises(InvalidInput, match="Expected: 3; Actual: 2; field: string_val; input name: x"):
        tfs.tensor_to_array("x", message)


# ---- responses: what ovmsclient reads ----


@pytest.mark.parametrize("name", list(SAMPLES))
def test_outputs_go_in_tensor_content(name: str) -> None:
    arr = SAMPLES[name]
    message = tfs.array_to_tensor("y", arr)
    assert message.dtype == DT.Value(name)
    assert_same(make_ndarray(theirs(message)), arr)


def test_non_contiguous_output() -> None:
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2]
    assert_same(make_ndarray(theirs(tfs.array_to_tensor("y", arr))), np.ascontiguousarray(arr))


def test_string_outputs_go_in_string_val() -> None:
    arr = np.empty(3, dtype=np.object_)
    arr[:] = [b"abc", b"", "zażółć".encode()]
    message = tfs.array_to_tensor("y_string", arr)
    assert message.dtype == DT.DT_STRING
    assert list(message.string_val) == arr.tolist()
    assert not message.tensor_content
    assert make_ndarray(theirs(message)).tolist() == arr.tolist()


def test_unserializable_output() -> None:
    with pytest.raises(InternalError, match=r"^Unsupported serialization precision - dtype: complex64"):
        tfs.array_to_tensor("y", np.zeros(2, np.complex64))


# ---- status and metadata ----


def test_model_status_as_ovmsclient_reads_it() -> None:
    statuses = [
        VersionStatus(1, State.AVAILABLE),
        VersionStatus(2, State.LOADING, ErrorCode.UNKNOWN, "bad file"),
        VersionStatus(3, State.END),
    ]
    wire = tfs.model_status_response(statuses).SerializeToString()
    parsed = GrpcModelStatusResponse(client_status.GetModelStatusResponse.FromString(wire)).to_dict()
    assert parsed == {
        1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"},
        2: {"state": "LOADING", "error_code": 2, "error_message": "UNKNOWN - bad file"},
        3: {"state": "END", "error_code": 0, "error_message": "OK"},
    }


META = ModelMetadata(
    name="m",
    versions=(1, 2),
    inputs=(TensorMetadata("in", types.FP32, (-1, 4)), TensorMetadata("ids", types.I64, ())),
    outputs=(TensorMetadata("out_string", types.STRING, (-1,)), TensorMetadata("h", types.FP16, (1, 2))),
)


def test_model_metadata_as_ovmsclient_reads_it() -> None:
    wire = tfs.model_metadata_response(META, 2).SerializeToString()
    parsed = GrpcModelMetadataResponse(client_metadata.GetModelMetadataResponse.FromString(wire)).to_dict()
    assert parsed == {
        "model_version": 2,
        "inputs": {"in": {"shape": [-1, 4], "dtype": "DT_FLOAT"}, "ids": {"shape": [], "dtype": "DT_INT64"}},
        "outputs": {
            "out_string": {"shape": [-1], "dtype": "DT_STRING"},
            "h": {"shape": [1, 2], "dtype": "DT_HALF"},
        },
    }


def test_model_metadata_signature() -> None:
    response = tfs.model_metadata_response(META, 2)
    assert response.model_spec.name == "m"
    assert list(response.metadata) == ["signature_def"]
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signatures = get_model_metadata_pb2.SignatureDefMap.FromString(packed.value)
    assert list(signatures.signature_def) == ["serving_default"]
    signature = signatures.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    info = signature.inputs["in"]
    assert (info.name, info.dtype, [d.size for d in info.tensor_shape.dim]) == ("in", DT.DT_FLOAT, [-1, 4])
    assert not info.tensor_shape.unknown_rank


# ---- values the tensor's type cannot hold, and shapes numpy cannot ----


@pytest.mark.parametrize(
    ("tf_type", "field", "values", "expected"),
    [
        (DT.DT_INT8, "int_val", [1, 300], "value 300 at index 1 is out of range for DT_INT8 [-128, 127]"),
        (DT.DT_UINT8, "int_val", [-1, 3], "value -1 at index 0 is out of range for DT_UINT8 [0, 255]"),
        (
            DT.DT_UINT16,
            "int_val",
            [70000, 3],
            "value 70000 at index 0 is out of range for DT_UINT16 [0, 65535]",
        ),
        (
            DT.DT_HALF,
            "half_val",
            [0, 65536],
            "value 65536 at index 1 is out of range for half_val (16-bit patterns) [0, 65535]",
        ),
    ],
)
def test_typed_values_do_not_wrap(tf_type: int, field: str, values: list[int], expected: str) -> None:
    message = TensorProto(dtype=tf_type)
    getattr(message, field).extend(values)
    message.tensor_shape.dim.add(size=len(values))
    with pytest.raises(InvalidInput) as info:
        tfs.tensor_to_array("x", message)
    assert info.value.message == f"Invalid content of tensor proto - {expected}; input name: x"


def test_values_in_both_tensor_content_and_a_typed_field() -> None:
    message = TensorProto(dtype=DT.DT_FLOAT, float_val=[1.0], tensor_content=np.ones(1, np.float32).tobytes())
    message.tensor_shape.dim.add(size=1)
    with pytest.raises(InvalidInput) as info:
        tfs.tensor_to_array("x", message)
    assert info.value.message == (
        "Invalid content of tensor proto - values in both tensor_content and float_val; send one of them; "
        "input name: x"
    )


@pytest.mark.parametrize("dims", [[0, 2**62], [2**40, 2**40]])
def test_shape_numpy_cannot_hold(dims: list[int]) -> None:
    message = TensorProto(dtype=DT.DT_FLOAT)
    for size in dims:
        message.tensor_shape.dim.add(size=size)
    with pytest.raises(InvalidInput) as info:
        tfs.tensor_to_array("x", message)
    assert info.value.message.startswith(
        f"Invalid input shape - ({dims[0]},{dims[1]}) of 4-byte elements is more"
    )


def test_unknown_rank() -> None:
    message = TensorProto(dtype=DT.DT_FLOAT)
    message.tensor_shape.unknown_rank = True
    with pytest.raises(InvalidInput, match="rank must be known"):
        tfs.tensor_to_array("x", message)
