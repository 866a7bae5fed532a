"""A request tensor's shape, checked before any array is made from it.

numpy refuses an array whose dimensions, zeros aside, multiply with the item size past the largest
``intp`` (``ValueError: array is too big``), even when a zero dimension leaves it empty, and one of
more dimensions than it supports; OpenVINO reads a dimension of 2**63 - 1 as unbounded and refuses
a tensor that has one. A client controls every dimension (KServe ``shape``, TFS ``tensor_shape``;
int64 in protobuf, any integer in JSON), so these limits are checked here, for every API and
transport, and reported as ``InvalidInput`` (400 / INVALID_ARGUMENT).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ovms_cli.errors import InvalidInput
from ovms_cli.types import format_shape

INVALID_SHAPE = "Invalid input shape"
# numpy 1.x's limit (numpy 2 allows 64); OpenVINO models are far below either.
MAX_RANK = 32
MAX_EXTENT_BYTES = int(np.iinfo(np.intp).max)
MAX_DIM = 2**63 - 2


def check_extent(name: str, shape: Sequence[int], itemsize: int) -> None:
    """Refuse a shape of non-negative ``int`` dims that numpy could not hold with ``itemsize``-byte items.

    Raises ``InvalidInput`` when the rank exceeds ``MAX_RANK``, a dim exceeds ``MAX_DIM``, or when the product of the non-zero
    dims times ``itemsize`` exceeds ``MAX_EXTENT_BYTES`` (2**63 - 1 on 64-bit machines).
    """
    if len(shape) > MAX_RANK:
        raise InvalidInput(
            INVALID_SHAPE,
            f"{len(shape)} dimensions is more than the {MAX_RANK} a tensor may have; input name: {name}",
        )
    extent = itemsize
    for dim in shape:
        if dim > MAX_DIM:
            raise InvalidInput(
                INVALID_SHAPE,
                f"dimension {dim} is larger than {MAX_DIM}, OpenVINO's largest; input name: {name}",
            )
        extent *= dim or 1
    if extent > MAX_EXTENT_BYTES:
        raise InvalidInput(
            INVALID_SHAPE,
            f"{format_shape(shape)} of {itemsize}-byte elements is more than {MAX_EXTENT_BYTES} bytes, "
            f"larger than any tensor can be; input name: {name}",
        )
