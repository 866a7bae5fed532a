"""What a servable tells clients about itself, independent of any API."""

from __future__ import annotations

from dataclasses import dataclass

from ovms_cli.inference.dtypes import DType


@dataclass(frozen=True, slots=True)
class TensorMetadata:
    name: str
    dtype: DType
    shape: tuple[int, ...]  # -1 where the dimension is not fixed


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    name: str
    versions: tuple[int, ...]  # every AVAILABLE version
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    platform: str = "OpenVINO"
