"""What to send: a model's inputs from the server's metadata, filled with random data once.

Dynamic dimensions (``-1``) become 1 unless ``--shape`` gives them. Numbers are random of the
input's datatype; integers are 0 or 1, valid as token ids, attention masks and class indices
alike. ``--image FILE`` sends the file's bytes as a BYTES tensor of shape ``[1]``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt

from ovms_cli import types
from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli._proto import grpc_predict_v2_pb2_grpc as pb_grpc
from ovms_cli.bench.errors import BenchError
from ovms_cli.protocol.bytes_tensor import encode_bytes_tensor

METADATA_TIMEOUT_S = 10.0
BYTES = "BYTES"


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1 where the dimension is dynamic


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]


@dataclass(frozen=True, slots=True)
class BenchInput:
    name: str
    datatype: str
    array: npt.NDArray[Any]  # an object array of bytes for BYTES

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.array.shape)

    def raw(self) -> bytes:
        """The tensor as KServe raw contents: C-order bytes, or length-prefixed elements for BYTES."""
        if self.datatype == BYTES:
            return encode_bytes_tensor(self.array)
        return self.array.tobytes()

    def json_data(self) -> list[Any]:
        if self.datatype == BYTES:
            raise BenchError(f"input {self.name}: BYTES data is sent as binary data only")
        flat: list[Any] = self.array.ravel().tolist()
        return flat


def fetch_model_info(protocol: str, url: str, model: str, version: str) -> ModelInfo:
    """The model's inputs and outputs as the server describes them; ``BenchError`` if it cannot."""
    return (
        _grpc_model_info(url, model, version) if protocol == "grpc" else _rest_model_info(url, model, version)
    )


def _grpc_model_info(url: str, model: str, version: str) -> ModelInfo:
    with grpc.insecure_channel(url) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        try:
            answer = stub.ModelMetadata(
                pb.ModelMetadataRequest(name=model, version=version), timeout=METADATA_TIMEOUT_S
            )
        except grpc.RpcError as error:
            raise BenchError(f"model metadata from {url}: {error.code().name}: {error.details()}") from error
    return ModelInfo(
        answer.name,
        tuple(TensorInfo(t.name, t.datatype, tuple(t.shape)) for t in answer.inputs),
        tuple(TensorInfo(t.name, t.datatype, tuple(t.shape)) for t in answer.outputs),
    )


def _rest_model_info(url: str, model: str, version: str) -> ModelInfo:
    address = f"http://{url}/v2/models/{model}" + (f"/versions/{version}" if version else "")
    try:
        with urllib.request.urlopen(address, timeout=METADATA_TIMEOUT_S) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        raise BenchError(f"model metadata from {address}: HTTP {error.code}: {text[:300]}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise BenchError(f"model metadata from {address}: {error}") from error
    return ModelInfo(str(body["name"]), _tensors(body.get("inputs", [])), _tensors(body.get("outputs", [])))


def _tensors(entries: Sequence[Mapping[str, Any]]) -> tuple[TensorInfo, ...]:
    return tuple(
        TensorInfo(str(e["name"]), str(e["datatype"]), tuple(int(d) for d in e["shape"])) for e in entries
    )


def parse_shapes(values: Sequence[str], inputs: Sequence[TensorInfo]) -> dict[str, tuple[int, ...]]:
    """``--shape`` values, ``name:1,224,224,3`` or (single-input models) ``1,224,224,3``, by input name."""
    names = [t.name for t in inputs]
    shapes: dict[str, tuple[int, ...]] = {}
    for value in values:
        name, dims = _split_shape(value, names)
        if name not in names:
            raise BenchError(f"--shape {value}: the model has no input {name!r} (inputs: {', '.join(names)})")
        shapes[name] = dims
    return shapes


def _split_shape(value: str, names: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    name, colon, dims_text = value.rpartition(":")
    if not colon:
        if len(names) != 1:
            raise BenchError(
                f"--shape {value}: name the input (name:dims); the model has {len(names)} inputs"
            )
        name = names[0]
    try:
        dims = tuple(int(d) for d in dims_text.strip("()[] ").split(",") if d.strip())
    except ValueError as error:
        raise BenchError(f"--shape {value}: dimensions must be integers like 1,224,224,3") from error
    if not dims or any(d < 0 for d in dims):
        raise BenchError(f"--shape {value}: dimensions must be non-negative integers like 1,224,224,3")
    return name, dims


def resolve_shape(tensor: TensorInfo, override: tuple[int, ...] | None) -> tuple[int, ...]:
    """The concrete shape to send: the override where given (checked against fixed dims), else -1 → 1."""
    if override is None:
        return tuple(1 if d < 0 else d for d in tensor.shape)
    if tensor.shape and len(override) != len(tensor.shape):
        raise BenchError(
            f"--shape for {tensor.name}: rank {len(override)}, the model's is {len(tensor.shape)}"
        )
    for index, (want, fixed) in enumerate(zip(override, tensor.shape, strict=False)):
        if fixed >= 0 and want != fixed:
            raise BenchError(f"--shape for {tensor.name}: dimension {index} is fixed at {fixed}, not {want}")
    return override


def make_inputs(
    info: ModelInfo, shapes: Sequence[str] = (), image: Path | None = None, seed: int = 0
) -> tuple[BenchInput, ...]:
    if image is not None:
        return (_image_input(info, image),)
    overrides = parse_shapes(shapes, info.inputs)
    rng = np.random.default_rng(seed)
    return tuple(
        BenchInput(t.name, t.datatype, _random(t, resolve_shape(t, overrides.get(t.name)), rng))
        for t in info.inputs
    )


def _image_input(info: ModelInfo, image: Path) -> BenchInput:
    if len(info.inputs) != 1:
        raise BenchError(f"--image needs a single-input model; {info.name} has {len(info.inputs)} inputs")
    try:
        data = image.read_bytes()
    except OSError as error:
        raise BenchError(f"--image {image}: {error.strerror}") from error
    array = np.empty(1, dtype=object)
    array[0] = data
    return BenchInput(info.inputs[0].name, BYTES, array)


def _random(tensor: TensorInfo, shape: tuple[int, ...], rng: np.random.Generator) -> npt.NDArray[Any]:
    dtype = types.from_kserve(tensor.datatype)
    if dtype is None:
        raise BenchError(f"input {tensor.name}: unknown datatype {tensor.datatype}")
    if dtype is types.BYTES:
        array = np.empty(shape, dtype=object)
        array.fill(b"ovms benchmark")
        return array
    kind = dtype.numpy.kind
    if kind == "f":
        return rng.random(shape, dtype=np.float64).astype(dtype.numpy)
    if kind == "b":
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(0, 2, shape).astype(dtype.numpy)
