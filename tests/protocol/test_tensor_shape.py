from __future__ import annotations

import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.protocol.tensor_shape import MAX_RANK, check_extent


@pytest.mark.parametrize(
    "shape", [(), (0,), (1, 3, 224, 224), (0, 2**60), (2**20, 2**20, 2**20), (1,) * MAX_RANK]
)
def test_shapes_numpy_can_hold(shape: tuple[int, ...]) -> None:
    check_extent("x", shape, 4)  # raises nothing


@pytest.mark.parametrize(
    ("shape", "itemsize"),
    [((0, 2**62), 4), ((2**62, 0), 4), ((2**32, 2**32), 1), ((2**61,), 8), ((0, 2**63 - 2), 2)],
)
def test_extents_past_what_numpy_addresses(shape: tuple[int, ...], itemsize: int) -> None:
    with pytest.raises(InvalidInput) as info:
        check_extent("x", shape, itemsize)
    dims = ",".join(map(str, shape))
    assert info.value.message == (
        f"Invalid input shape - ({dims}) of {itemsize}-byte elements is more than 9223372036854775807 bytes, "
        "larger than any tensor can be; input name: x"
    )


def test_too_many_dimensions() -> None:
    with pytest.raises(InvalidInput) as info:
        check_extent("x", (1,) * (MAX_RANK + 1), 4)
    assert info.value.message == (
        "Invalid input shape - 33 dimensions is more than the 32 a tensor may have; input name: x"
    )


@pytest.mark.parametrize("dim", [2**63 - 1, 2**63, 2**70])
def test_dims_past_openvino_s_largest(dim: int) -> None:
    check_extent("x", (0, 2**63 - 2), 1)  # the largest OpenVINO takes
    with pytest.raises(InvalidInput) as info:
        check_extent("x", (0, dim), 1)
    assert info.value.message == (
        f"Invalid input shape - dimension {dim} is larger than 9223372036854775806, OpenVINO's largest; "
        "input name: x"
    )
