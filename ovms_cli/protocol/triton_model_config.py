"""Triton's model configuration extension: ``ModelConfig`` as JSON (REST) and protobuf (gRPC).

Field names and enums follow triton-inference-server/common model_config.proto; the document is
derived from what the server knows (``ModelConfiguration``), read-only. As in Triton, a model that
batches (``max_batch_size`` > 0, here: dynamic batching is configured) lists its tensors' ``dims``
without the batch dimension; -1 marks a dimension that is not fixed.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format

from ovms_cli._proto.grpc_service_extensions_pb2 import ModelConfigResponse
from ovms_cli.repository.version_policy import AllPolicy, LatestPolicy, SpecificPolicy, VersionPolicy
from ovms_cli.servables.model_configuration import ModelConfiguration
from ovms_cli.types import BYTES, TensorMetadata

PLATFORM = BACKEND = "openvino"
PIPELINE_PLATFORM = "ensemble"  # Triton's name for a server-side graph of models
GRAPH_PLATFORM = "mediapipe"  # OVMS serves generative models as MediaPipe graphs


def _graph_document(config: ModelConfiguration) -> dict[str, Any]:
    return {
        "name": config.name,
        "platform": GRAPH_PLATFORM,
        "backend": GRAPH_PLATFORM,
        "version_policy": _version_policy(config.version_policy),
        "max_batch_size": 0,
    }


def model_config_document(config: ModelConfiguration) -> dict[str, Any]:
    if config.is_graph:
        return _graph_document(config)
    if config.is_pipeline:
        return {
            "name": config.name,
            "platform": PIPELINE_PLATFORM,
            "version_policy": _version_policy(config.version_policy),
            "max_batch_size": 0,
            "input": [_tensor(tensor, False) for tensor in config.inputs],
            "output": [_tensor(tensor, False) for tensor in config.outputs],
        }
    batching = config.max_batch_size > 0
    doc: dict[str, Any] = {
        "name": config.name,
        "platform": PLATFORM,
        "backend": BACKEND,
        "version_policy": _version_policy(config.version_policy),
        "max_batch_size": config.max_batch_size,
        "input": [_tensor(tensor, batching) for tensor in config.inputs],
        "output": [_tensor(tensor, batching) for tensor in config.outputs],
        "instance_group": [
            {
                "name": f"{config.name}_0",
                "kind": _instance_kind(config.target_device),
                "count": config.streams,
            }
        ],
        "parameters": {"NIREQ": {"string_value": str(config.infer_requests)}},
    }
    if batching:
        doc["dynamic_batching"] = {"max_queue_delay_microseconds": config.max_batch_delay_us}
    return doc


def encode_model_config_json(config: ModelConfiguration) -> bytes:
    return orjson.dumps(model_config_document(config))


def encode_model_config_message(config: ModelConfiguration) -> ModelConfigResponse:
    message = ModelConfigResponse()
    json_format.ParseDict({"config": model_config_document(config)}, message)
    return message


def data_type(tensor: TensorMetadata) -> str:
    """Triton's ``DataType`` enum name: TYPE_ and the KServe datatype (BYTES is TYPE_STRING)."""
    return "TYPE_STRING" if tensor.dtype is BYTES else f"TYPE_{tensor.dtype.kserve}"


def _tensor(tensor: TensorMetadata, batching: bool) -> dict[str, Any]:
    dims = list(tensor.shape[1:] if batching else tensor.shape)
    return {"name": tensor.name, "data_type": data_type(tensor), "dims": dims}


def _version_policy(policy: VersionPolicy) -> dict[str, Any]:
    if isinstance(policy, AllPolicy):
        return {"all": {}}
    if isinstance(policy, SpecificPolicy):
        return {"specific": {"versions": list(policy.versions)}}
    assert isinstance(policy, LatestPolicy)
    return {"latest": {"num_versions": policy.num_versions}}


def _instance_kind(device: str) -> str:
    if device == "CPU":
        return "KIND_CPU"
    if device.startswith("GPU"):
        return "KIND_GPU"
    return "KIND_MODEL"  # AUTO, HETERO, MULTI, NPU...: OpenVINO places it
