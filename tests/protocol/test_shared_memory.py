"""Shared-memory tensor parameters: parsing, refusal without regions, reading inputs, writing outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.protocol import shared_memory
from ovms_cli.protocol.shared_memory import Window


@pytest.fixture
def regions(tmp_path: Path) -> SharedMemoryRegions:
    (tmp_path / "data").write_bytes(np.arange(16, dtype=np.int32).tobytes())
    made = SharedMemoryRegions(root=tmp_path)
    made.register("r", "data", 0, 64)
    return made


def test_window_from_parameters(regions: SharedMemoryRegions) -> None:
    params = {"shared_memory_region": "r", "shared_memory_byte_size": 8, "shared_memory_offset": 4}
    assert shared_memory.window("input", "x", params, regions) == Window("r", 4, 8)
    assert shared_memory.window("input", "x", {"binary_data_size": 3}, regions) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"shared_memory_byte_size": 4},
            'input "x": parameter "shared_memory_byte_size" needs "shared_memory_region"',
        ),
        ({"shared_memory_region": "r"}, 'input "x": "shared_memory_region" needs "shared_memory_byte_size"'),
        (
            {"shared_memory_region": 5, "shared_memory_byte_size": 4},
            '"shared_memory_region" must be a non-empty string',
        ),
        (
            {"shared_memory_region": "r", "shared_memory_byte_size": -1},
            '"shared_memory_byte_size" must be a non-negative',
        ),
        ({"shared_memory_region": "r", "shared_memory_byte_size": 4, "shared_memory_offset": "0"}, "offset"),
        ({"shared_memory_region": "r", "shared_memory_byte_size": True}, "non-negative integer, got True"),
    ],
)
def test_bad_parameters_are_refused(
    regions: SharedMemoryRegions, params: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        shared_memory.window("input", "x", params, regions)


def test_refused_where_the_endpoint_has_no_shared_memory() -> None:
    with pytest.raises(InvalidInput) as raised:
        shared_memory.window("output", "y", {"shared_memory_region": "r"}, None)
    assert raised.value.message == (
        'output "y": parameter "shared_memory_region" is not supported (shared memory is not available)'
    )


def test_inputs_are_views_and_outputs_are_written(regions: SharedMemoryRegions) -> None:
    array = shared_memory.read_input(regions, "x", "INT32", (2, 2), Window("r", 16, 16))
    np.testing.assert_array_equal(array, [[4, 5], [6, 7]])
    shared_memory.write_outputs(regions, {"y": Window("r", 0, 8)}, {"y": np.array([-1, -2], np.int32)})
    np.testing.assert_array_equal(array, [[4, 5], [6, 7]])  # another window: untouched
    np.testing.assert_array_equal(
        shared_memory.read_input(regions, "z", "INT32", (2,), Window("r", 0, 8)), [-1, -2]
    )


def test_size_must_match_the_input_and_hold_the_output(regions: SharedMemoryRegions) -> None:
    with pytest.raises(InvalidInput, match="Invalid content size"):
        shared_memory.read_input(regions, "x", "INT32", (3,), Window("r", 0, 8))
    with pytest.raises(InvalidInput, match=r"\(4 bytes\) should be at least 8 bytes"):
        shared_memory.write_outputs(regions, {"y": Window("r", 0, 4)}, {"y": np.zeros(2, np.int32)})
