"""The region registry: mapping, bounds, unregistering while a request still reads a region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ovms_cli.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed
from ovms_cli.inference.shared_memory import SharedMemoryRegions


@pytest.fixture
def regions(tmp_path: Path) -> SharedMemoryRegions:
    (tmp_path / "data").write_bytes(np.arange(32, dtype=np.int32).tobytes())
    return SharedMemoryRegions(root=tmp_path)


def test_views_read_and_write_the_object(regions: SharedMemoryRegions, tmp_path: Path) -> None:
    regions.register("r", "/data", 16, 64)
    array = np.frombuffer(regions.view("r", 0, 64, "x"), dtype=np.int32)
    np.testing.assert_array_equal(array, np.arange(4, 20))
    regions.view("r", 60, 4, "y")[:] = np.int32(-1).tobytes()
    assert np.frombuffer((tmp_path / "data").read_bytes(), np.int32)[19] == -1


def test_windows_are_bounds_checked(regions: SharedMemoryRegions) -> None:
    regions.register("r", "data", 0, 64)
    with pytest.raises(InvalidInput, match=r"offset 60 \+ byte_size 8 > region size 64"):
        regions.view("r", 60, 8, "x")
    with pytest.raises(InvalidInput, match="does not fit"):
        regions.view("r", -4, 4, "x")
    with pytest.raises(InvalidInput, match="outside the object"):
        regions.register("big", "data", 64, 128)


def test_unregister_while_in_use_keeps_the_view_valid(regions: SharedMemoryRegions) -> None:
    regions.register("r", "data", 0, 128)
    in_use = np.frombuffer(regions.view("r", 0, 128, "x"), dtype=np.int32)
    regions.unregister("r")
    with pytest.raises(InvalidInput, match="Unable to find"):
        regions.view("r", 0, 4, "x")
    np.testing.assert_array_equal(in_use, np.arange(32))  # still mapped: no use after unmap
    del in_use
    regions.register("r", "data", 0, 128)  # the name is free again


def test_names_and_keys_are_validated(regions: SharedMemoryRegions) -> None:
    for key in ("../data", "/a/b", "", "/", ".."):
        with pytest.raises(InvalidInput, match="invalid shared memory key"):
            regions.register("r", key, 0, 4)
    with pytest.raises(InvalidInput, match="region name"):
        regions.register("", "data", 0, 4)
    with pytest.raises(InvalidInput, match="byte_size 0"):
        regions.register("r", "data", 0, 0)
    regions.register("r", "data", 0, 4)
    with pytest.raises(AlreadyExists):
        regions.register("r", "data", 0, 4)


def test_status_and_unregister(regions: SharedMemoryRegions) -> None:
    regions.register("a", "data", 0, 4)
    regions.register("b", "data", 4, 4)
    assert [(r.name, r.offset) for r in regions.status()] == [("a", 0), ("b", 4)]
    with pytest.raises(NotFound):
        regions.status("c")
    regions.unregister("c")  # Triton's rule: nothing to forget is not an error
    regions.unregister()
    assert regions.status() == []


def test_a_server_that_takes_no_registrations_says_why(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(bytes(64))
    refusing = SharedMemoryRegions(root=tmp_path, refusal="System shared memory needs --workers 1")
    with pytest.raises(PreconditionFailed, match="needs --workers 1"):
        refusing.register("r", "/data", 0, 64)
    assert refusing.status() == []
