"""TFS REST bodies ⇄ core types: ovmsclient's requests, curl-style row and column JSON, every error."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import orjson
import pytest
from google.protobuf import json_format
from ovmsclient.tfs_compat.http.requests import make_predict_request
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import get_model_status_pb2 as client_status

from ovms_cli import types
from ovms_cli._proto._pool import POOL
from ovms_cli._proto.tensorflow_serving.apis import get_model_metadata_pb2
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol import tfs, tfs_rest
from ovms_cli.protocol.tfs_rest import Layout
from ovms_cli.types import (
    Array,
    DType,
    ErrorCode,
    InferenceResponse,
    ModelMetadata,
    State,
    TensorMetadata,
    VersionStatus,
)

AFFINE = (TensorMetadata("input", types.FP32, (-1, 4)),)
ADD_MUL = (TensorMetadata("a", types.I32, (-1, 3)), TensorMetadata("b", types.I32, (-1, 3)))
ECHO = (TensorMetadata("text", types.U8, (-1, -1)),)
IMAGE = (TensorMetadata("image", types.FP32, (1, 2, 2, 3)),)

NUMERIC: dict[DType, Array] = {
    types.FP32: np.array([[0.5, -2.5], [3e38, 0.0]], np.float32),
    types.FP64: np.array([0.1, -1e308], np.float64),
    types.FP16: np.array([[0.5, -65504.0]], np.float16),
    types.I64: np.array([-(2**63), 2**63 - 1], np.int64),
    types.I32: np.array([[-(2**31)], [2**31 - 1]], np.int32),
    types.I16: np.array([-32768, 32767], np.int16),
    types.I8: np.array([-128, 127], np.int8),
    types.U64: np.array([0, 2**64 - 1], np.uint64),
    types.U32: np.array([0, 2**32 - 1], np.uint32),
    types.U16: np.array([0, 65535], np.uint16),
    types.U8: np.array([[0, 255]], np.uint8),
    types.BOOL: np.array([True, False], np.bool_),
}


def decode(doc: object, inputs: tuple[TensorMetadata, ...] = AFFINE) -> tuple[dict[str, Array], Layout]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    request, layout = tfs_rest.decode_predict_request(body, "m", 2, inputs)
    assert (request.model_name, request.model_version) == ("m", 2)
    return request.inputs, layout


def error(doc: object, inputs: tuple[TensorMetadata, ...] = AFFINE) -> str:
    with pytest.raises(InvalidInput) as raised:
        decode(doc, inputs)
    return raised.value.message


def assert_same(actual: Array, expected: Array) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


def b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode()}


# ---- what ovmsclient sends ----


@pytest.mark.parametrize("dtype", list(NUMERIC), ids=lambda d: d.ovms)
def test_ovmsclient_numbers_take_the_model_input_type(dtype: DType) -> None:
    arr = NUMERIC[dtype]
    body = make_predict_request({"x": arr}, "m").parsed_inputs.encode()
    inputs, layout = decode(body, (TensorMetadata("x", dtype, (-1,) * arr.ndim),))
    assert layout is Layout.COLUMN
    assert_same(inputs["x"], arr)


def test_ovmsclient_binary_and_text() -> None:
    body = make_predict_request(
        {"image": np.array([b"\xff\xd8one", b"\xff\xd8two"]), "text": np.array(["zażółć", "b"])}, "m"
    ).parsed_inputs
    inputs, _ = decode(body.encode(), (IMAGE[0], ECHO[0]))
    assert inputs["image"].dtype == np.object_
    assert inputs["image"].tolist() == [b"\xff\xd8one", b"\xff\xd8two"]
    assert inputs["text"].tolist() == ["zażółć".encode(), b"b"]


def test_ovmsclient_scalar() -> None:
    body = make_predict_request({"input": 3}, "m").parsed_inputs.encode()
    inputs, _ = decode(body)
    assert_same(inputs["input"], np.array([3.0], np.float32))


# ---- row format ----


def test_row_unnamed_is_the_whole_tensor() -> None:
    inputs, layout = decode({"instances": [[1, 2, 3, 4], [5, 6, 7, 8.5]]})
    assert layout is Layout.ROW
    assert_same(inputs["input"], np.array([[1, 2, 3, 4], [5, 6, 7, 8.5]], np.float32))


def test_row_named_stacks_instances() -> None:
    doc = {"instances": [{"a": [1, 2, 3], "b": [4, 5, 6]}, {"a": [7, 8, 9], "b": [0, 0, 1]}]}
    inputs, _ = decode(doc, ADD_MUL)
    assert_same(inputs["a"], np.array([[1, 2, 3], [7, 8, 9]], np.int32))
    assert_same(inputs["b"], np.array([[4, 5, 6], [0, 0, 1]], np.int32))


def test_row_b64_images() -> None:
    unnamed, _ = decode({"instances": [b64(b"one"), b64(b"two")]}, IMAGE)
    named, _ = decode({"instances": [{"image": b64(b"one")}, {"image": b64(b"two")}]}, IMAGE)
    for inputs in (unnamed, named):
        assert inputs["image"].dtype == np.object_
        assert inputs["image"].shape == (2,)
        assert inputs["image"].tolist() == [b"one", b"two"]


def test_row_text() -> None:
    inputs, _ = decode({"instances": ["hello", "zażółć"]}, ECHO)
    assert inputs["text"].tolist() == [b"hello", "zażółć".encode()]


def test_floats_are_not_truncated_into_integer_inputs() -> None:
    message = error({"instances": [{"a": [3, -2.9, 1], "b": [0, 0, 0]}]}, ADD_MUL)
    assert message == (
        "Could not parse instance content. Not valid ndarray detected - "
        "INT32 data must be integers, got -2.9 at index [0, 1]; input name: a"
    )


def test_undeclared_inputs_are_typed_from_their_values() -> None:
    inputs, _ = decode({"inputs": {"input": [[1, 2, 3, 4]], "extra": [1, 2], "more": [0.5]}})
    assert inputs["extra"].dtype == np.int32
    assert inputs["more"].dtype == np.float32


# ---- column format ----


def test_column_named() -> None:
    inputs, layout = decode({"inputs": {"a": [[1, 2, 3]], "b": [[4, 5, 6]]}, "signature_name": "x"}, ADD_MUL)
    assert layout is Layout.COLUMN
    assert_same(inputs["b"], np.array([[4, 5, 6]], np.int32))


def test_column_unnamed() -> None:
    inputs, _ = decode({"inputs": [[1, 2, 3, 4]]})
    assert_same(inputs["input"], np.array([[1, 2, 3, 4]], np.float32))


def test_column_scalar() -> None:
    inputs, _ = decode({"inputs": 2.5})
    assert_same(inputs["input"], np.array(2.5, np.float32))


def test_column_b64() -> None:
    inputs, _ = decode({"inputs": {"image": [b64(b"\x00\x01"), b64(b"")]}}, IMAGE)
    assert inputs["image"].tolist() == [b"\x00\x01", b""]


def test_column_empty_list() -> None:
    inputs, _ = decode({"inputs": []})
    assert_same(inputs["input"], np.zeros(0, np.float32))


def test_nested_text_keeps_its_shape() -> None:
    inputs, _ = decode({"inputs": [["a", "b"], ["c", "d"]]}, ECHO)
    assert inputs["text"].shape == (2, 2)


# ---- request errors ----


def test_invalid_json() -> None:
    assert error(b'{"inputs": [1,').startswith("The file is not valid json - Error: ")


@pytest.mark.parametrize("doc", [[1, 2], "text", 3])
def test_body_not_an_object(doc: object) -> None:
    assert error(doc) == "Request body should be JSON object"


@pytest.mark.parametrize("doc", [{}, {"instances": [[1]], "inputs": [[1]]}, {"signature_name": "s"}])
def test_neither_or_both_formats(doc: object) -> None:
    assert error(doc) == (
        "Invalid JSON structure. Could not detect row or column format - "
        'the body needs exactly one of "instances" and "inputs"'
    )


def test_instances_not_a_list() -> None:
    assert error({"instances": {"input": [1, 2, 3, 4]}}) == (
        'Invalid JSON structure. Nonamed instance is not an array. - "instances" must be a list'
    )


def test_no_instances() -> None:
    assert (
        error({"instances": []})
        == 'Invalid JSON structure. Missing instances in row format - "instances" is empty'
    )


def test_named_instance_not_an_object() -> None:
    assert error({"instances": [{"a": [1, 2, 3]}, [1, 2, 3]]}, ADD_MUL) == (
        "Invalid JSON structure. One of named instances is not a JSON object. - instance 1"
    )


def test_instances_batch_sizes_differ() -> None:
    assert error({"instances": [{"a": [1, 2, 3], "b": [1, 2, 3]}, {"a": [1, 2, 3]}]}, ADD_MUL) == (
        "Invalid JSON structure. Request inputs have different batch sizes - instances per input: {'a': 2, 'b': 1}"
    )


def test_ragged_instances() -> None:
    message = error({"instances": [[1, 2, 3, 4], [1, 2]]})
    assert message.startswith("Could not parse instance content. Not valid ndarray detected - ")
    assert message.endswith("input name: input")


def test_ragged_inputs() -> None:
    message = error({"inputs": {"input": [[1, 2, 3, 4], [1]]}})
    assert message.startswith("Could not parse input content. Not valid ndarray detected - ")


def test_ragged_strings() -> None:
    assert error({"inputs": [["a", "b"], ["c"]]}, ECHO) == (
        "Could not parse input content. Not valid ndarray detected - "
        "nested lists of different lengths; input name: text"
    )


def test_no_inputs() -> None:
    assert error({"inputs": {}}) == 'Invalid JSON structure, missing inputs - "inputs" is an empty object'


def test_inputs_null() -> None:
    assert (
        error({"inputs": None})
        == 'Invalid JSON structure. One of inputs is not a JSON object. - "inputs" is null'
    )


@pytest.mark.parametrize("doc", [{"inputs": [[1, 2, 3]]}, {"instances": [[1, 2, 3]]}])
def test_unnamed_values_need_a_single_input_model(doc: object) -> None:
    assert error(doc, ADD_MUL) == (
        "Inputs inside buffer does not match expected format. - "
        "values without input names need a model with one input; this one has 2: ['a', 'b']"
    )


def test_strings_into_a_numeric_input() -> None:
    assert error({"inputs": ["1.5", "2"]}) == (
        "Could not parse input content. Not valid ndarray detected - plain strings are accepted only for "
        'U8 and string inputs; send binary data as {"b64": ...}; input name: input'
    )


def test_strings_mixed_with_numbers() -> None:
    assert error({"instances": ["a", 1]}, ECHO) == (
        "Could not parse instance content. Not valid ndarray detected - "
        "strings mixed with other values; input name: text"
    )


def test_numbers_mixed_with_strings() -> None:
    assert error({"inputs": [1, "a"]}).startswith(
        "Could not parse input content. Not valid ndarray detected - "
    )


def test_invalid_base64() -> None:
    message = error({"inputs": [{"b64": "not base64!"}]}, IMAGE)
    assert message.startswith("Could not parse input content. Not valid ndarray detected - invalid base64 (")
    assert error({"inputs": [{"b64": 5}]}, IMAGE) == (
        'Could not parse input content. Not valid ndarray detected - "b64" must be a string; input name: image'
    )


def test_value_out_of_range() -> None:
    message = error({"instances": [{"a": [1, 2, 2**40], "b": [1, 2, 3]}]}, ADD_MUL)
    assert message == (
        "Could not parse instance content. Not valid ndarray detected - "
        "value 1099511627776 at index [0, 2] is out of range for INT32 [-2147483648, 2147483647]; input name: a"
    )


def test_numbers_into_a_string_input() -> None:
    strings = (TensorMetadata("s", types.STRING, (-1,)),)
    assert error({"inputs": [1, 2]}, strings) == (
        "Could not parse input content. Not valid ndarray detected - "
        "string input takes strings, got numbers; input name: s"
    )


# ---- predict responses ----


def response(**outputs: Array) -> InferenceResponse:
    return InferenceResponse("m", 1, outputs)


def encode(resp: InferenceResponse, layout: Layout) -> Any:
    return json.loads(tfs_rest.encode_predict_response(resp, layout))


SCALED = np.array([[1.5, 2.0, 3.0, 4.0], [0.25, -1.0, 0.0, 7.0]], np.float32)
TOTAL = np.array([10.5, 6.25], np.float32)


def test_column_single_output_is_unnamed() -> None:
    assert encode(response(scaled=SCALED), Layout.COLUMN) == {"outputs": SCALED.tolist()}


def test_column_outputs_by_name() -> None:
    assert encode(response(scaled=SCALED, total=TOTAL), Layout.COLUMN) == {
        "outputs": {"scaled": SCALED.tolist(), "total": TOTAL.tolist()}
    }


def test_row_single_output_is_a_list_of_items() -> None:
    assert encode(response(scaled=SCALED), Layout.ROW) == {"predictions": SCALED.tolist()}


def test_row_outputs_per_instance() -> None:
    assert encode(response(scaled=SCALED, total=TOTAL), Layout.ROW) == {
        "predictions": [
            {"scaled": SCALED[0].tolist(), "total": 10.5},
            {"scaled": SCALED[1].tolist(), "total": 6.25},
        ]
    }


def test_row_outputs_with_different_batch_sizes() -> None:
    with pytest.raises(InternalError) as raised:
        encode(response(scaled=SCALED, total=np.ones(3, np.float32)), Layout.ROW)
    assert raised.value.message == (
        "Could not parse output content. - the row format needs outputs with one batch size, "
        "got {'scaled': 2, 'total': 3}; use columns"
    )


def test_row_scalar_output() -> None:
    with pytest.raises(InternalError, match="output y is a scalar, which the row format cannot hold"):
        encode(response(y=np.array(1.0, np.float32)), Layout.ROW)


def test_floats_round_trip_in_shortest_form() -> None:
    arr = np.array([0.1, 1 / 3, 3e38, 1e-45], np.float32)
    text = tfs_rest.encode_predict_response(response(y=arr), Layout.COLUMN)
    assert text.startswith(b'{"outputs":[0.1,')
    assert_same(np.array(json.loads(text)["outputs"], np.float32), arr)
    assert encode(response(y=np.array([3.0], np.float64)), Layout.COLUMN) == {"outputs": [3.0]}


def test_non_finite_floats_as_tensorflow_serving_writes_them() -> None:
    text = tfs_rest.encode_predict_response(
        response(y=np.array([np.nan, np.inf, -np.inf, 1.5])), Layout.COLUMN
    )
    assert text == b'{"outputs":[NaN,Infinity,-Infinity,1.5]}'


@pytest.mark.parametrize("dtype", list(NUMERIC), ids=lambda d: d.ovms)
def test_every_numeric_output(dtype: DType) -> None:
    arr = NUMERIC[dtype]
    assert_same(np.array(encode(response(y=arr), Layout.COLUMN)["outputs"], dtype.numpy), arr)


def test_non_contiguous_output() -> None:
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2]
    assert encode(response(y=arr), Layout.COLUMN) == {"outputs": arr.tolist()}


def strings(items: list[bytes], shape: tuple[int, ...]) -> Array:
    out = np.empty(len(items), dtype=np.object_)
    out[:] = items
    return out.reshape(shape)


def test_string_outputs_are_text() -> None:
    text = strings([b"abc", "zażółć".encode()], (2,))
    assert encode(response(echo_string=text), Layout.ROW) == {"predictions": ["abc", "zażółć"]}
    grid = strings([b"a", b"b", b"c", b"d"], (2, 2))
    assert encode(response(g=grid), Layout.COLUMN) == {"outputs": [["a", "b"], ["c", "d"]]}


def test_bytes_outputs_and_invalid_utf8_are_base64() -> None:
    data = strings([b"\xff\x00", b"ok"], (2,))
    assert encode(response(y_bytes=data, y_string=data), Layout.COLUMN) == {
        "outputs": {"y_bytes": [b64(b"\xff\x00"), b64(b"ok")], "y_string": [b64(b"\xff\x00"), "ok"]}
    }


def test_strings_beside_numbers_in_rows() -> None:
    assert encode(response(s=strings([b"x", b"y"], (2,)), total=TOTAL), Layout.ROW) == {
        "predictions": [{"s": "x", "total": 10.5}, {"s": "y", "total": 6.25}]
    }


# ---- status and metadata ----


def test_model_status_json() -> None:
    body = tfs_rest.encode_model_status(
        [VersionStatus(1, State.AVAILABLE), VersionStatus(2, State.LOADING, ErrorCode.UNKNOWN)]
    )
    assert json.loads(body) == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": "OK"}},
            {
                "version": "2",
                "state": "LOADING",
                "status": {"error_code": "UNKNOWN", "error_message": "UNKNOWN"},
            },
        ]
    }
    # as OVMS's functional tests read it: no key TF Serving's proto does not know
    parsed = json_format.Parse(body, client_status.GetModelStatusResponse(), ignore_unknown_fields=False)
    assert [s.version for s in parsed.model_version_status] == [1, 2]


def test_model_metadata_json() -> None:
    meta = ModelMetadata(
        "m",
        (1, 3),
        (TensorMetadata("input", types.FP32, (-1, 4)),),
        (TensorMetadata("out_string", types.STRING, (-1,)),),
    )
    body = tfs_rest.encode_model_metadata(meta, 3)
    doc = orjson.loads(body)
    assert doc["modelSpec"] == {"name": "m", "signatureName": "", "version": "3"}
    signature_def = doc["metadata"]["signature_def"]
    assert signature_def["@type"] == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    serving = signature_def["signatureDef"]["serving_default"]
    assert serving["methodName"] == "tensorflow/serving/predict"
    assert serving["inputs"] == {
        "input": {
            "name": "input",
            "dtype": "DT_FLOAT",
            "tensorShape": {
                "dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}],
                "unknownRank": False,
            },
        }
    }
    assert serving["outputs"]["out_string"]["dtype"] == "DT_STRING"
    parsed = json_format.Parse(body, get_model_metadata_pb2.GetModelMetadataResponse(), descriptor_pool=POOL)
    assert parsed == tfs.model_metadata_response(meta, 3)


def test_non_finite_tokens_are_read_as_tensorflow_serving_reads_them() -> None:
    body = b'{"instances": [[NaN, Infinity, -Infinity, 1.5]]}'
    request, _ = tfs_rest.decode_predict_request(body, "m", None, AFFINE)
    x = request.inputs["input"]
    assert [bool(np.isnan(x[0, 0])), *x[0, 1:].tolist()] == [True, np.inf, -np.inf, 1.5]


def test_true_is_not_a_number() -> None:
    assert error({"inputs": {"input": [[1.5, 2, True, 4]]}}) == (
        "Could not parse input content. Not valid ndarray detected - "
        "FP32 data must be numbers, got True at index [0, 2]; input name: input"
    )
