from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest
import tritonclient.http as triton_http
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritonclient.http._utils import _get_inference_request

from ovms_cli import types
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol.kserve_rest import (
    OutputFormat,
    decode_infer_request,
    encode_error,
    encode_infer_response,
    encode_model_metadata,
    encode_server_metadata,
)
from ovms_cli.types import Array, InferenceRequest, InferenceResponse, ModelMetadata, TensorMetadata

BINARY = OutputFormat(binary_default=True)
JSON = OutputFormat()


def kserve_name(arr: Array) -> str:
    dtype = types.from_numpy(arr.dtype)
    assert dtype is not None
    return dtype.kserve


def triton_body(
    inputs: list[tuple[str, Array, bool]],
    outputs: list[triton_http.InferRequestedOutput] | None = None,
    request_id: str = "",
    parameters: dict[str, object] | None = None,
) -> tuple[bytes, str | None]:
    """A request body and its Inference-Header-Content-Length, built by tritonclient.http."""
    infer_inputs = []
    for name, arr, binary in inputs:
        infer_input = triton_http.InferInput(name, list(arr.shape), kserve_name(arr))
        infer_inputs.append(infer_input.set_data_from_numpy(arr, binary_data=binary))
    body, json_size = _get_inference_request(
        inputs=infer_inputs,
        request_id=request_id,
        outputs=outputs,
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        custom_parameters=parameters,
    )
    return body, None if json_size is None else str(json_size)


def decode(body: bytes, header: str | None = None) -> tuple[InferenceRequest, OutputFormat]:
    return decode_infer_request(body, header, "model", 2)


def decode_json(doc: object, tail: bytes = b"") -> tuple[InferenceRequest, OutputFormat]:
    header = orjson.dumps(doc)
    return decode(header + tail, str(len(header)) if tail else None)


def error_of(doc: object, tail: bytes = b"") -> str:
    with pytest.raises(InvalidInput) as info:
        decode_json(doc, tail)
    return info.value.message


def triton_result(resp: InferenceResponse, fmt: OutputFormat) -> triton_http.InferResult:
    body, headers = encode_infer_response(resp, fmt)
    header_length = headers.get("Inference-Header-Content-Length")
    return triton_http.InferResult.from_response_body(
        body, header_length=None if header_length is None else int(header_length)
    )


def as_sent(arr: Array) -> Array:
    """What a client gets back: JSON BYTES arrive as text."""
    if arr.dtype != np.object_:
        return arr
    out = np.empty(arr.size, dtype=np.object_)
    out[:] = [item.encode() if isinstance(item, str) else item for item in arr.ravel()]
    return out.reshape(arr.shape)


def assert_same(actual: Array, expected: Array) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(as_sent(actual), expected)


def one_input(**fields: object) -> dict[str, object]:
    return {"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1]} | fields]}


# ---- requests from tritonclient ----


def test_decode_binary_inputs(sample: tuple[str, Array]) -> None:
    _, arr = sample
    body, header = triton_body([("a", arr, True), ("b", np.arange(3, dtype=np.int16), True)])
    request, fmt = decode(body, header)
    assert list(request.inputs) == ["a", "b"]
    assert_same(request.inputs["a"], arr)
    assert_same(request.inputs["b"], np.arange(3, dtype=np.int16))
    assert (request.model_name, request.model_version) == ("model", 2)
    # tritonclient asks for every output in binary by sending binary_data_output and no outputs
    assert request.requested_outputs == ()
    assert fmt.is_binary("anything")
    assert request.parameters == {}


def test_decode_binary_inputs_are_views_of_the_body() -> None:
    arr = np.arange(12, dtype=np.float32)
    body, header = triton_body([("a", arr, True)])
    request, _ = decode(body, header)
    assert np.shares_memory(request.inputs["a"], np.frombuffer(body, dtype=np.uint8))


def test_decode_json_inputs(json_sample: tuple[str, Array]) -> None:
    _, arr = json_sample
    body, header = triton_body([("a", arr, False)])
    assert header is None
    request, _ = decode(body, header)
    assert_same(request.inputs["a"], arr)


def test_decode_mixed_json_and_binary_inputs() -> None:
    first, second, third = np.arange(4, dtype=np.int32), np.ones((2, 2), np.float16), np.array([b"t"], object)
    body, header = triton_body([("a", first, False), ("b", second, True), ("c", third, True)])
    request, _ = decode(body, header)
    assert_same(request.inputs["a"], first)
    assert_same(request.inputs["b"], second)
    assert_same(request.inputs["c"], third)


def test_decode_requested_outputs_keep_their_own_flags() -> None:
    outputs = [
        triton_http.InferRequestedOutput("a", binary_data=True),
        triton_http.InferRequestedOutput("b", binary_data=False),
        triton_http.InferRequestedOutput("c"),
    ]
    body, header = triton_body([("x", np.zeros(1, np.int8), True)], outputs=outputs)
    request, fmt = decode(body, header)
    assert request.requested_outputs == ("a", "b", "c")
    assert [fmt.is_binary(name) for name in ("a", "b", "c", "d")] == [True, False, True, False]


def test_decode_request_level_binary_flag_is_the_default() -> None:
    doc = one_input(name="x")
    doc["parameters"] = {"binary_data_output": True, "custom": "v"}
    doc["outputs"] = [{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}]
    request, fmt = decode_json(doc)
    assert request.requested_outputs == ("a", "b")
    assert [fmt.is_binary(name) for name in ("a", "b", "c")] == [True, False, True]
    assert request.parameters == {"custom": "v"}


def test_decode_id_and_parameters() -> None:
    body, header = triton_body(
        [("x", np.zeros(1, np.int8), False)], request_id="req-7", parameters={"s": "t", "n": 3, "f": False}
    )
    request, fmt = decode(body, header)
    assert request.id == "req-7"
    assert request.parameters == {"s": "t", "n": 3, "f": False}
    assert fmt.is_binary("y")


def test_decode_ignores_model_name_in_body() -> None:
    doc = one_input() | {"model_name": "other", "model_version": "9"}
    request, _ = decode_json(doc)
    assert (request.model_name, request.model_version) == ("model", 2)


def test_decode_input_without_data_takes_its_size_from_the_tail() -> None:
    arr = np.arange(6, dtype=np.int16).reshape(2, 3)
    doc = {
        "inputs": [
            {"name": "a", "shape": [2, 3], "datatype": "INT16"},
            {"name": "b", "shape": [1], "datatype": "UINT8", "parameters": {"binary_data_size": 1}},
        ]
    }
    request, _ = decode_json(doc, arr.tobytes() + b"\x07")
    assert_same(request.inputs["a"], arr)
    assert request.inputs["b"].tolist() == [7]


def test_decode_only_bytes_input_without_size_takes_the_whole_tail() -> None:
    tail = struct.pack("<I", 3) + b"abc" + struct.pack("<I", 1) + b"d"
    request, _ = decode_json({"inputs": [{"name": "img", "shape": [2], "datatype": "BYTES"}]}, tail)
    assert request.inputs["img"].tolist() == [b"abc", b"d"]


def test_decode_zero_sized_binary_input() -> None:
    doc = {
        "inputs": [{"name": "a", "shape": [0, 3], "datatype": "FP32", "parameters": {"binary_data_size": 0}}]
    }
    header = orjson.dumps(doc)
    request, _ = decode(header, str(len(header)))
    assert request.inputs["a"].shape == (0, 3)


# ---- request errors ----


def test_error_body_not_json() -> None:
    with pytest.raises(InvalidInput) as info:
        decode(b'{"inputs": [')
    assert info.value.message.startswith("Request body is not valid JSON - ")


def test_error_json_part_not_utf8() -> None:
    with pytest.raises(InvalidInput, match="Request body is not valid JSON"):
        decode(b'{"id": "\xff"}')


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1], "Request body should be JSON object"),
        ({}, 'Invalid JSON structure, missing inputs - "inputs" must be a non-empty list of objects'),
        (
            {"inputs": []},
            'Invalid JSON structure, missing inputs - "inputs" must be a non-empty list of objects',
        ),
        (
            {"inputs": {}},
            'Invalid JSON structure, missing inputs - "inputs" must be a non-empty list of objects',
        ),
        ({"inputs": [1]}, "Invalid JSON structure. One of inputs is not a JSON object. - input 0"),
        ({"inputs": [{"shape": [1]}]}, 'input 0: "name" must be a string'),
        (one_input(shape=None), 'input "x": "shape" must be a list of non-negative integers, got None'),
        (one_input(shape=[2, -1]), 'input "x": "shape" must be a list of non-negative integers, got [2, -1]'),
        (one_input(shape=[1.0]), 'input "x": "shape" must be a list of non-negative integers, got [1.0]'),
        (one_input(datatype=5), 'input "x": "datatype" must be a string'),
        (one_input(datatype="BF16"), "Invalid input precision - Unknown datatype: BF16; input name: x"),
        (one_input(data=1), 'input "x": "data" must be a list'),
        (one_input(parameters=[]), 'input "x": "parameters" must be an object'),
        (
            one_input(parameters={"shared_memory_region": "r"}),
            'input "x": parameter "shared_memory_region" is not supported (shared memory is not available)',
        ),
        (one_input() | {"id": 5}, '"id" must be a string'),
        (one_input() | {"parameters": [1]}, '"parameters" must be an object'),
        (
            one_input() | {"parameters": {"k": 1.5}},
            "Could not parse request parameters - "
            'parameter "k" must be a string, a boolean or an integer, got 1.5',
        ),
        (
            one_input() | {"parameters": {"binary_data_output": 1}},
            '"binary_data_output" parameter must be a boolean',
        ),
        (one_input() | {"outputs": {"name": "y"}}, '"outputs" must be a list of objects'),
        (one_input() | {"outputs": ["y"]}, "output 0: must be an object"),
        (one_input() | {"outputs": [{"name": "y"}, {}]}, 'output 1: "name" must be a string'),
        (
            one_input() | {"outputs": [{"name": "y", "parameters": 1}]},
            'output "y": "parameters" must be an object',
        ),
        (
            one_input() | {"outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]},
            'output "y": "binary_data" must be a boolean',
        ),
        (
            one_input() | {"outputs": [{"name": "y", "parameters": {"classification": 3}}]},
            'output "y": parameter "classification" is not supported (classification is not available)',
        ),
        (
            one_input(datatype="FP16", data=[1.0]),
            "Could not parse input content. Unsupported data precision detected - FP16 data must be sent in "
            "binary form (raw_input_contents over gRPC, binary_data_size over REST); input name: x",
        ),
        (
            one_input(data=[1.5]),
            "Could not parse input content. Not valid ndarray detected - "
            "INT32 data must be integers, got 1.5 at index 0; input name: x",
        ),
        (
            one_input(shape=[2]),
            "Invalid number of values in tensor proto container - Expected: 2 values; Actual: 1 values; "
            "input name: x",
        ),
        (
            {"inputs": [one_input()["inputs"][0], one_input()["inputs"][0]]},  # type: ignore[index]
            "Duplicate input in request - input name: x",
        ),
        (
            {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32"}]},
            'input "x" has no "data" and the request has no binary data '
            "(no Inference-Header-Content-Length header)",
        ),
    ],
)
def test_error_json_structure(doc: object, message: str) -> None:
    assert error_of(doc) == message


@pytest.mark.parametrize("header", ["abc", "-1", "1.5", "", "10000"])
def test_error_invalid_header_length(header: str) -> None:
    body = orjson.dumps(one_input())
    with pytest.raises(InvalidInput) as info:
        decode(body, header)
    assert info.value.message == (
        "Inference-Header-Content-Length header is invalid and couldn't be parsed - "
        f"expected an integer from 0 to the body length {len(body)}, got {header!r}"
    )


@pytest.mark.parametrize("size", ["4", -1, True, 1.0])
def test_error_invalid_binary_data_size(size: object) -> None:
    doc = {
        "inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "parameters": {"binary_data_size": size}}]
    }
    assert error_of(doc, b"\x00" * 4) == (
        "binary_data_size parameter is invalid and cannot be parsed - expected a non-negative integer, "
        f"got {size!r}; input name: x"
    )


def test_error_binary_and_json_data_together() -> None:
    doc = one_input(parameters={"binary_data_size": 4})
    assert error_of(doc, b"\x00" * 4) == (
        "Request contains values both in binary data and in content value - input name: x"
    )


def test_error_binary_buffer_exceeded() -> None:
    doc = {
        "inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}}]
    }
    assert error_of(doc, b"\x00" * 5) == (
        "Received buffer size is smaller than binary_data_size parameter indicates - Needed: 8 bytes; "
        "Remaining: 5 bytes; input name: x"
    )


def test_error_binary_size_does_not_match_shape() -> None:
    doc = {
        "inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 4}}]
    }
    assert error_of(doc, b"\x00" * 4) == (
        "Invalid content size of tensor proto - Expected: 8 bytes; Actual: 4 bytes; input name: x"
    )


def test_error_leftover_binary_data() -> None:
    doc = {"inputs": [{"name": "x", "shape": [1], "datatype": "INT32"}]}
    assert error_of(doc, b"\x00" * 6) == (
        "Invalid binary data size - 2 bytes after the last input's data belong to no input"
    )


def test_error_bytes_input_without_size_among_others() -> None:
    doc = {
        "inputs": [
            {"name": "s", "shape": [1], "datatype": "BYTES"},
            {"name": "x", "shape": [1], "datatype": "INT8", "data": [1]},
        ]
    }
    tail = struct.pack("<I", 1) + b"a"
    assert error_of(doc, tail) == 'input "s": binary BYTES data needs a "binary_data_size" parameter'


def test_error_malformed_bytes_tail() -> None:
    doc = {
        "inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 5}}]
    }
    assert error_of(doc, struct.pack("<I", 9) + b"a") == (
        "Inputs inside buffer does not match expected format. - "
        "element 0 declares 9 bytes but only 1 remain; input name: s"
    )


# ---- responses read by tritonclient ----


def test_encode_binary_outputs(sample: tuple[str, Array]) -> None:
    datatype, arr = sample
    resp = InferenceResponse("m", 3, {"out": arr, "n": np.arange(2, dtype=np.int64)}, id="r")
    _, headers = encode_infer_response(resp, BINARY)
    assert headers["Content-Type"] == "application/octet-stream"
    result = triton_result(resp, BINARY)
    assert_same(result.as_numpy("out"), arr)
    assert_same(result.as_numpy("n"), np.arange(2, dtype=np.int64))
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("m", "3", "r")
    assert response["outputs"][0]["datatype"] == datatype


def test_encode_json_outputs(sample: tuple[str, Array]) -> None:
    _, arr = sample
    resp = InferenceResponse("m", 1, {"out": arr})
    _, headers = encode_infer_response(resp, JSON)
    assert headers == {"Content-Type": "application/json"}
    out = triton_result(resp, JSON).as_numpy("out")
    assert out.shape == arr.shape
    np.testing.assert_array_equal(as_sent(out), arr)


def test_encode_mixed_outputs_in_order() -> None:
    outputs = {"a": np.arange(3, dtype=np.uint8), "b": np.array([1.5]), "c": np.array([b"x", b"yz"], object)}
    fmt = OutputFormat(binary={"a": True, "c": True})
    body, headers = encode_infer_response(InferenceResponse("m", 1, outputs), fmt)
    length = int(headers["Inference-Header-Content-Length"])
    assert body[length:] == b"\x00\x01\x02" + struct.pack("<I", 1) + b"x" + struct.pack("<I", 2) + b"yz"
    result = triton_result(InferenceResponse("m", 1, outputs), fmt)
    for name, arr in outputs.items():
        assert_same(result.as_numpy(name), arr)
    assert "data" in result.get_output("b")


def test_encode_exact_json() -> None:
    resp = InferenceResponse(
        "m", 1, {"o": np.array([[1, 2]], dtype=np.int32)}, id="i", parameters={"p": True}
    )
    body, _ = encode_infer_response(resp, JSON)
    assert body == (
        b'{"model_name":"m","id":"i","model_version":"1","parameters":{"p":true},'
        b'"outputs":[{"name":"o","datatype":"INT32","shape":[1,2],"data":[1,2]}]}'
    )
    body, _ = encode_infer_response(InferenceResponse("m", 4, {"s": np.array(0.5, dtype=np.float32)}), BINARY)
    assert body.startswith(
        b'{"model_name":"m","model_version":"4","outputs":[{"name":"s","datatype":"FP32","shape":[],'
        b'"parameters":{"binary_data_size":4}}]}'
    )


def test_encode_non_contiguous_outputs() -> None:
    arr = np.arange(6, dtype=np.float64).reshape(2, 3).T
    for fmt in (JSON, BINARY):
        assert_same(triton_result(InferenceResponse("m", 1, {"t": arr}), fmt).as_numpy("t"), arr)


def test_encode_non_utf8_bytes_in_json_is_refused() -> None:
    resp = InferenceResponse("m", 1, {"raw": np.array([b"\xff\xfe"], object)})
    with pytest.raises(InvalidInput) as info:
        encode_infer_response(resp, JSON)
    assert info.value.message == (
        'output "raw" holds bytes that are not valid UTF-8; request it with "binary_data": true'
    )
    assert triton_result(resp, BINARY).as_numpy("raw").tolist() == [b"\xff\xfe"]


def test_encode_unsupported_dtype() -> None:
    with pytest.raises(InternalError):
        encode_infer_response(InferenceResponse("m", 1, {"c": np.zeros(1, np.complex64)}), JSON)


# ---- metadata and errors ----


def test_encode_model_metadata() -> None:
    meta = ModelMetadata(
        name="resnet",
        versions=(1, 2),
        inputs=(TensorMetadata("0", types.FP32, (1, 224, 224, 3)),),
        outputs=(TensorMetadata("1463", types.FP32, (-1, 1000)), TensorMetadata("s", types.STRING, ())),
    )
    assert encode_model_metadata(meta) == (
        b'{"name":"resnet","versions":["1","2"],"platform":"OpenVINO",'
        b'"inputs":[{"name":"0","datatype":"FP32","shape":[1,224,224,3]}],'
        b'"outputs":[{"name":"1463","datatype":"FP32","shape":[-1,1000]},{"name":"s","datatype":"BYTES","shape":[]}]}'
    )


def test_encode_server_metadata() -> None:
    assert encode_server_metadata("OpenVINO Model Server", "0.1.0", []) == (
        b'{"name":"OpenVINO Model Server","version":"0.1.0"}'
    )
    assert orjson.loads(encode_server_metadata("n", "v", ["binary_tensor_data"]))["extensions"] == [
        "binary_tensor_data"
    ]


def test_encode_error_escapes() -> None:
    message = 'bad "input"\n\\ zażółć \x01'
    body = encode_error(message)
    assert body.startswith(b'{"error":"bad \\"input\\"\\n')
    assert orjson.loads(body) == {"error": message}


# ---- property: tritonclient → codec → core → codec → tritonclient ----

NUMERIC = [d.numpy for d in types.ALL if d is not types.BYTES]
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=6)


@st.composite
def tensors(draw: st.DrawFn) -> tuple[Array, bool]:
    """A tensor and whether tritonclient sends it as binary data (FP16 only can't go in JSON)."""
    binary = draw(st.booleans())
    if draw(st.integers(0, 4)) == 0:
        return draw(hnp.arrays(np.object_, shapes, elements=texts.map(str.encode))), binary
    dtype = np.dtype(draw(st.sampled_from(NUMERIC)))
    arr = draw(hnp.arrays(dtype, shapes))  # NaN and infinities included (issue 12, kind 1)
    return arr, binary or dtype == np.float16


@settings(max_examples=80, deadline=None)
@given(st.lists(tensors(), min_size=1, max_size=3), st.data())
def test_round_trip_through_tritonclient(tensors: list[tuple[Array, bool]], data: st.DataObject) -> None:
    named = {f"t{i}": arr for i, (arr, _) in enumerate(tensors)}
    body, header = triton_body([(f"t{i}", arr, binary) for i, (arr, binary) in enumerate(tensors)])
    request, _ = decode(body, header)
    for name, arr in named.items():
        assert_same(request.inputs[name], arr)
    flags = {name: data.draw(st.booleans()) for name in named}
    result = triton_result(InferenceResponse("m", 1, request.inputs), OutputFormat(binary=flags))
    for name, arr in named.items():
        out = result.as_numpy(name)
        if arr.size == 0:
            assert out.shape == arr.shape  # tritonclient types an empty tensor float64 whatever its datatype
            continue
        assert_same(out, arr)


# ---- NaN and infinities: bare tokens both ways, as tritonclient.http's python-rapidjson reads and writes ----


def test_non_finite_tokens_are_read() -> None:
    body = b'{"inputs": [{"name": "x", "shape": [4], "datatype": "FP32", "data": [NaN, Infinity, -Infinity, 1]}]}'
    request, _ = decode(body)
    x = request.inputs["x"]
    assert [np.isnan(x[0]), *x[1:].tolist()] == [True, np.inf, -np.inf, 1.0]


def test_non_finite_tokens_are_written() -> None:
    resp = InferenceResponse("m", 1, {"y": np.array([np.nan, -np.inf, np.inf, 0.0], np.float32)})
    body, _ = encode_infer_response(resp, JSON)
    assert b'"data":[NaN,-Infinity,Infinity,0.0]' in body


def test_non_finite_tokens_reach_tritonclient() -> None:
    y = np.array([np.nan, -np.inf, np.inf, 0.5], np.float32)
    result = triton_result(InferenceResponse("m", 1, {"y": y}), JSON)
    assert_same(result.as_numpy("y"), y)


def test_tritonclient_sends_nan_as_a_token() -> None:
    x = np.array([np.nan, -np.inf, np.inf], np.float32)
    body, header = triton_body([("x", x, False)])
    assert b"[NaN,-Infinity,Infinity]" in body
    request, _ = decode(body, header)
    assert_same(request.inputs["x"], x)
