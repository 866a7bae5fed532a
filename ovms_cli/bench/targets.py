"""One inference request, built and serialized once in the parent into a picklable ``Target``.

gRPC: a ``ModelInferRequest`` with ``raw_input_contents``. REST: JSON ``data``, or the binary
data extension (``Inference-Header-Content-Length``, ``binary_data_size`` per input, every output
requested with ``binary_data: true``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli.bench.clients import MODEL_INFER, Target
from ovms_cli.bench.inputs import BenchInput, TensorInfo

HEADER_LENGTH = "Inference-Header-Content-Length"


def grpc_target(url: str, model: str, version: str, inputs: Sequence[BenchInput]) -> Target:
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    for item in inputs:
        request.inputs.add(name=item.name, datatype=item.datatype, shape=item.shape)
        request.raw_input_contents.append(item.raw())
    return Target("grpc", url, MODEL_INFER, request.SerializeToString())


def rest_target(
    url: str,
    model: str,
    version: str,
    inputs: Sequence[BenchInput],
    outputs: Sequence[TensorInfo],
    *,
    binary: bool,
) -> Target:
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    if not binary:
        header = {"inputs": [_json_input(item) for item in inputs]}
        return Target("rest", url, path, orjson.dumps(header), (("Content-Type", "application/json"),))
    raws = [item.raw() for item in inputs]
    header_json = orjson.dumps(
        {
            "inputs": [
                {**_tensor_header(item), "parameters": {"binary_data_size": len(raw)}}
                for item, raw in zip(inputs, raws, strict=True)
            ],
            "outputs": [{"name": out.name, "parameters": {"binary_data": True}} for out in outputs],
        }
    )
    headers = (("Content-Type", "application/octet-stream"), (HEADER_LENGTH, str(len(header_json))))
    return Target("rest", url, path, b"".join([header_json, *raws]), headers)


def _tensor_header(item: BenchInput) -> dict[str, Any]:
    return {"name": item.name, "datatype": item.datatype, "shape": list(item.shape)}


def _json_input(item: BenchInput) -> dict[str, Any]:
    return {**_tensor_header(item), "data": item.json_data()}
