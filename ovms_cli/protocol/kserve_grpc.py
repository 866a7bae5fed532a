"""KServe v2 gRPC messages ⇄ core types."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ovms_cli._proto.grpc_predict_v2_pb2 import (
    InferParameter,
    ModelInferRequest,
    ModelInferResponse,
    ModelMetadataResponse,
)
from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.protocol import kserve, shared_memory
from ovms_cli.protocol.kserve import parse_version
from ovms_cli.protocol.outputs import requested_outputs
from ovms_cli.protocol.protobuf_wire import tag, varint
from ovms_cli.types import (
    Array,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    Parameter,
    TensorMetadata,
)

__all__ = [
    "decode_infer_request",
    "encode_infer_response",
    "encode_model_metadata",
    "output_windows",
    "parse_version",
    "serialize_infer_response",
]

INVALID_MESSAGE_STRUCTURE = (
    "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
    "ModelInferRequest::raw_input_contents is not allowed"
)

_CONTENTS_FIELD = {
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
}

_OutputTensor = ModelInferResponse.InferOutputTensor
_RAW_OUTPUT_TAG = tag(ModelInferResponse.RAW_OUTPUT_CONTENTS_FIELD_NUMBER)
_TensorMetadataMessage = ModelMetadataResponse.TensorMetadata


def decode_infer_request(
    msg: ModelInferRequest,
    regions: SharedMemoryRegions | None = None,
    raw_input_contents: Sequence[bytes | memoryview] | None = None,
) -> InferenceRequest:
    """``regions``: the server's shared-memory regions, for inputs that name one (None: refused).
    ``raw_input_contents``: the message's field 7 when the caller read it apart (``kserve_grpc_raw``)."""
    version = parse_version(msg.model_version)
    raw = msg.raw_input_contents if raw_input_contents is None else raw_input_contents
    if raw:
        _check_raw_layout(msg, regions, len(raw))
    inputs: dict[str, Array] = {}
    raw_index = 0
    for tensor in msg.inputs:
        kserve.check_tensor_parameters("input", tensor.name, tensor.parameters)
        shape = kserve.check_shape(tensor.name, tensor.shape, kserve.dtype_for(tensor.datatype, tensor.name))
        where = _window("input", tensor, regions) if tensor.parameters else None
        if where is not None:
            array = shared_memory.read_input(regions, tensor.name, tensor.datatype, shape, where)
        elif raw:
            array = kserve.tensor_from_raw(tensor.name, tensor.datatype, shape, raw[raw_index])
            raw_index += 1
        else:
            array = kserve.tensor_from_values(tensor.name, tensor.datatype, shape, _contents(tensor))
        kserve.add_input(inputs, tensor.name, array)
    for output in msg.outputs:
        kserve.check_tensor_parameters("output", output.name, output.parameters)
    return InferenceRequest(
        model_name=msg.model_name,
        model_version=version,
        inputs=inputs,
        requested_outputs=requested_outputs(output.name for output in msg.outputs),
        id=msg.id,
        parameters=_parameters(msg.parameters),
        special_inputs=kserve.special_inputs(inputs),
    )


def _check_raw_layout(msg: ModelInferRequest, regions: SharedMemoryRegions | None, raw_count: int) -> None:
    """One raw_input_contents entry per input not in shared memory (tritonclient sends none for
    those); without ``regions``, one per input (shared-memory parameters are refused after this)."""
    for tensor in msg.inputs:
        if tensor.HasField("contents"):
            raise InvalidInput(
                INVALID_MESSAGE_STRUCTURE,
                f"Detected buffer in InferInputTensor contents for input: {tensor.name}",
            )
    in_regions = 0 if regions is None else sum(shared_memory.REGION in t.parameters for t in msg.inputs)
    expected = len(msg.inputs) - in_regions
    if raw_count != expected:
        which = "one per input not in shared memory" if in_regions else "one per input"
        raise InvalidInput(
            "Invalid number of raw_input_contents",
            f"Expected: {expected} ({which}); Actual: {raw_count}",
        )


def output_windows(
    msg: ModelInferRequest, regions: SharedMemoryRegions | None
) -> Mapping[str, shared_memory.Window]:
    """The requested outputs to be written into shared memory, by name (refused without ``regions``)."""
    windows: dict[str, shared_memory.Window] = {}
    for output in msg.outputs:
        if output.parameters:
            where = _window("output", output, regions)
            if where is not None:
                windows[output.name] = where
    return windows


def _window(
    kind: str,
    tensor: ModelInferRequest.InferInputTensor | ModelInferRequest.InferRequestedOutputTensor,
    regions: SharedMemoryRegions | None,
) -> shared_memory.Window | None:
    params = {key: tensor.parameters[key] for key in shared_memory.PARAMETERS if key in tensor.parameters}
    values = {key: _parameter(key, value) for key, value in params.items()}
    return shared_memory.window(kind, tensor.name, values, regions)


def _contents(tensor: ModelInferRequest.InferInputTensor) -> Collection[object]:
    field = _CONTENTS_FIELD.get(tensor.datatype)
    if field is None:
        return ()
    for descriptor, _ in tensor.contents.ListFields():
        if descriptor.name != field:
            raise InvalidInput(
                kserve.INVALID_CONTENT,
                f"{tensor.datatype} values belong in contents.{field}, got values in contents.{descriptor.name}; "
                f"input name: {tensor.name}",
            )
    values: Collection[object] = getattr(tensor.contents, field)
    return values


def _parameters(params: Mapping[str, InferParameter]) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for key, param in params.items():
        value = _parameter(key, param)
        if value is not None:
            out[key] = value
    return out


def _parameter(key: str, param: InferParameter) -> Parameter | None:
    """A parameter's value; None when none is set. ``double_param`` is refused as REST refuses JSON fractions."""
    which = param.WhichOneof("parameter_choice")
    if which == "bool_param":
        return param.bool_param
    if which == "int64_param":
        return param.int64_param
    if which == "string_param":
        return param.string_param
    if which == "uint64_param":
        return param.uint64_param
    if which == "double_param":
        kserve.parameter_value(key, param.double_param)  # raises: a number with a fraction is not accepted
    return None  # no value set


def _to_parameter(value: Parameter) -> InferParameter:
    if isinstance(value, bool):
        return InferParameter(bool_param=value)
    if isinstance(value, int):
        return InferParameter(int64_param=value) if value < 2**63 else InferParameter(uint64_param=value)
    return InferParameter(string_param=value)


def encode_infer_response(resp: InferenceResponse) -> ModelInferResponse:
    raw = [bytes(kserve.raw_bytes(array)) for array in resp.outputs.values()]
    return _response_message(resp, raw)


def serialize_infer_response(resp: InferenceResponse, in_shared_memory: Collection[str] = ()) -> bytes:
    """``encode_infer_response(resp).SerializeToString()``, byte for byte, at a fraction of the cost.

    Output data goes from the arrays into the result in one copy: protobuf would copy it into a
    ``bytes``, then into the message, then out again (about 1.6 ms instead of 25 µs for 600 KB).
    ``raw_output_contents`` is the message's last field, so appending it by hand keeps protobuf's
    field order. Outputs ``in_shared_memory`` (already written there) get an empty entry, so the
    entries stay aligned with ``outputs``.
    """
    parts: list[bytes | memoryview] = [_response_message(resp, []).SerializeToString()]
    for name, array in resp.outputs.items():
        raw = b"" if name in in_shared_memory else kserve.raw_bytes(array)
        parts += (_RAW_OUTPUT_TAG, varint(len(raw)), raw)
    return b"".join(parts)


def _response_message(resp: InferenceResponse, raw: list[bytes]) -> ModelInferResponse:
    outputs = [
        _OutputTensor(name=name, datatype=kserve.datatype_of(name, array), shape=array.shape)
        for name, array in resp.outputs.items()
    ]
    return ModelInferResponse(
        model_name=resp.model_name,
        model_version=str(resp.model_version),
        id=resp.id,
        parameters={key: _to_parameter(value) for key, value in resp.parameters.items()},
        outputs=outputs,
        raw_output_contents=raw,
    )


def encode_model_metadata(meta: ModelMetadata) -> ModelMetadataResponse:
    return ModelMetadataResponse(
        name=meta.name,
        versions=[str(version) for version in meta.versions],
        platform=meta.platform,
        inputs=[_tensor_metadata(tensor) for tensor in meta.inputs],
        outputs=[_tensor_metadata(tensor) for tensor in meta.outputs],
    )


def _tensor_metadata(tensor: TensorMetadata) -> ModelMetadataResponse.TensorMetadata:
    return _TensorMetadataMessage(name=tensor.name, datatype=tensor.dtype.kserve, shape=tensor.shape)
