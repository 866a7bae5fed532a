"""A model input or output as the server sees it, and validation of request tensors against it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from ovms_cli import types
from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shapes import Shape
from ovms_cli.types import Array, DType, TensorMetadata, as_bytes, format_shape


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str  # public name, as clients see it
    index: int  # position among the compiled model's inputs or outputs
    dtype: DType
    shape: Shape | None  # None: the rank itself is dynamic
    batch_index: int | None = 0
    layout: str = ""  # e.g. NHWC; empty when the model does not say

    def metadata(self) -> TensorMetadata:
        dims = () if self.shape is None else tuple(d.metadata() for d in self.shape)
        return TensorMetadata(self.name, self.dtype, dims)

    def validate(self, array: Array) -> None:
        """Raise InvalidInput with OVMS's message when ``array`` cannot feed this input."""
        self._validate_precision(array)
        if self.shape is not None:
            self._validate_shape(array.shape)

    def _validate_precision(self, array: Array) -> None:
        if array.dtype == self.dtype.numpy or (array.dtype.kind in "OSU" and self.dtype is types.STRING):
            return
        actual = types.from_numpy(array.dtype)
        raise InvalidInput(
            "Invalid input precision",
            f"Expected: {self.dtype.kserve}; Actual: {actual.kserve if actual else array.dtype}; "
            f"input name: {self.name}",
        )

    def _validate_shape(self, actual: tuple[int, ...]) -> None:
        assert self.shape is not None
        if len(actual) != len(self.shape):
            raise InvalidInput(
                "Invalid number of shape dimensions",
                f"Expected: {format_shape(self.shape)}; Actual: {format_shape(actual)}; input name: {self.name}",
            )
        b = self.batch_index
        if b is not None and not self.shape[b].accepts(actual[b]):
            raise InvalidInput(
                "Invalid input batch size",
                f"Expected: {self.shape[b]}; Actual: {actual[b]}; input name: {self.name}",
            )
        if not all(dim.accepts(n) for dim, n in zip(self.shape, actual, strict=True)):
            raise InvalidInput(
                "Invalid input shape",
                f"Expected: {format_shape(self.shape)}; Actual: {format_shape(actual)}; input name: {self.name}",
            )


def check_requested(requested: tuple[str, ...], outputs: Collection[str]) -> None:
    """Raise InvalidInput (OVMS's message) for a requested output name not among ``outputs``."""
    for name in requested:
        if name not in outputs:
            raise InvalidInput(
                "Missing output with specific name",
                f"Requested output: {name}; model outputs: {sorted(outputs)}",
            )


def is_string_array(array: Array) -> bool:
    return array.dtype.kind in "OSU"


def as_bytes_array(array: Array) -> Array:
    """An object array of ``bytes`` whatever text form the strings came in."""
    if array.dtype.kind == "O":
        return array
    out = np.empty(array.shape, dtype=object)
    out.flat[:] = [as_bytes(s) for s in array.flat]
    return out
