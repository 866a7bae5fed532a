"""TensorFlow Serving gRPC messages ⇄ core types."""

from __future__ import annotations

from collections.abc import Sequence

from ovms_cli._proto.tensorflow.core.framework.tensor_pb2 import TensorProto
from ovms_cli._proto.tensorflow_serving.apis.get_model_metadata_pb2 import (
    GetModelMetadataRequest,
    GetModelMetadataResponse,
)
from ovms_cli._proto.tensorflow_serving.apis.get_model_status_pb2 import (
    GetModelStatusRequest,
    GetModelStatusResponse,
)
from ovms_cli._proto.tensorflow_serving.apis.predict_pb2 import PredictRequest, PredictResponse
from ovms_cli.errors import InvalidInput
from ovms_cli.protocol import tfs
from ovms_cli.protocol.outputs import requested_outputs
from ovms_cli.protocol.protobuf_wire import tag, varint
from ovms_cli.types import SPECIAL_INPUTS, InferenceRequest, InferenceResponse, ModelMetadata, VersionStatus

__all__ = [
    "decode_metadata_request",
    "decode_predict_request",
    "decode_status_request",
    "encode_model_metadata",
    "encode_model_status",
    "encode_predict_response",
    "serialize_predict_response",
]

INVALID_SIGNATURE = "Invalid signature name"

# Tags of the length-delimited fields serialize_predict_response writes by hand.
_OUTPUTS_TAG = tag(PredictResponse.OUTPUTS_FIELD_NUMBER)
_KEY_TAG = tag(1)  # map entry key
_VALUE_TAG = tag(2)  # map entry value
_CONTENT_TAG = tag(TensorProto.TENSOR_CONTENT_FIELD_NUMBER)


def decode_predict_request(msg: PredictRequest) -> InferenceRequest:
    """The special inputs of stateful models (spec §9.2) go to ``special_inputs``, as their wire had them."""
    name, version = tfs.model_target(msg)
    inputs, special = {}, {}
    for key, tensor in msg.inputs.items():
        if key in SPECIAL_INPUTS:
            special[key] = tfs.special_input(key, tensor)
        else:
            inputs[key] = tfs.tensor_to_array(key, tensor)
    return InferenceRequest(
        model_name=name,
        model_version=version,
        inputs=inputs,
        requested_outputs=requested_outputs(msg.output_filter),
        special_inputs=special,
    )


def decode_metadata_request(msg: GetModelMetadataRequest) -> tuple[str, int | None]:
    target = tfs.model_target(msg)
    fields = list(msg.metadata_field)
    if fields != [tfs.SIGNATURE_DEF]:
        raise InvalidInput(INVALID_SIGNATURE, f'metadata_field must be ["{tfs.SIGNATURE_DEF}"], got {fields}')
    return target


def decode_status_request(msg: GetModelStatusRequest) -> tuple[str, int | None]:
    return tfs.model_target(msg)


def encode_predict_response(resp: InferenceResponse) -> PredictResponse:
    """The response message; ``model_spec`` stays empty, as OVMS leaves it."""
    return PredictResponse(
        outputs={name: tfs.array_to_tensor(name, array) for name, array in resp.outputs.items()}
    )


def serialize_predict_response(resp: InferenceResponse) -> bytes:
    """``encode_predict_response(resp).SerializeToString()`` with output data copied once.

    Each ``outputs`` map entry is framed by hand so ``tensor_content`` goes from the array into the
    result directly; protobuf would copy it into a ``bytes``, into the message, and out again.
    """
    parts: list[bytes | memoryview] = []
    for name, array in resp.outputs.items():
        tensor = _tensor_parts(tfs.tensor_header(name, array).SerializeToString(), tfs.tensor_content(array))
        tensor_size = sum(len(part) for part in tensor)
        key = name.encode()
        entry = [_KEY_TAG, varint(len(key)), key, _VALUE_TAG, varint(tensor_size)]
        entry_size = sum(len(part) for part in entry) + tensor_size
        parts += [_OUTPUTS_TAG, varint(entry_size), *entry, *tensor]
    return b"".join(parts)


def _tensor_parts(header: bytes, content: bytes | memoryview) -> Sequence[bytes | memoryview]:
    if not len(content):
        return (header,)
    return (header, _CONTENT_TAG, varint(len(content)), content)


def encode_model_metadata(meta: ModelMetadata, version: int) -> GetModelMetadataResponse:
    return tfs.model_metadata_response(meta, version)


def encode_model_status(statuses: Sequence[VersionStatus]) -> GetModelStatusResponse:
    return tfs.model_status_response(statuses)
