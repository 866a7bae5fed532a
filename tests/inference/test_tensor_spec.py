import numpy as np
import pytest

from ovms_cli import types
from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shapes import Dim
from ovms_cli.inference.tensor_spec import TensorSpec, as_bytes_array

SPEC = TensorSpec("x", 0, types.FP32, (Dim(1, 4), Dim.fixed(3), Dim.any()), batch_index=0)


def test_a_matching_tensor_passes() -> None:
    SPEC.validate(np.zeros((4, 3, 17), np.float32))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (
            np.zeros((1, 3, 2), np.int32),
            "Invalid input precision - Expected: FP32; Actual: INT32; input name: x",
        ),
        (
            np.zeros((1, 3), np.float32),
            "Invalid number of shape dimensions - Expected: ([1~4],3,-1); Actual: (1,3); input name: x",
        ),
        (
            np.zeros((5, 3, 2), np.float32),
            "Invalid input batch size - Expected: [1~4]; Actual: 5; input name: x",
        ),
        (
            np.zeros((1, 2, 2), np.float32),
            "Invalid input shape - Expected: ([1~4],3,-1); Actual: (1,2,2); input name: x",
        ),
    ],
)
def test_mismatches_name_what_was_expected(array: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        SPEC.validate(array)
    assert raised.value.message == message
    assert raised.value.http_status == 400


def test_metadata_shows_minus_one_for_dims_that_are_not_fixed() -> None:
    meta = SPEC.metadata()
    assert (meta.name, meta.dtype.kserve, meta.shape) == ("x", "FP32", (-1, 3, -1))


def test_dynamic_rank_accepts_any_shape() -> None:
    TensorSpec("y", 0, types.FP32, None).validate(np.zeros((2, 2, 2, 2), np.float32))


def test_strings_become_bytes_objects() -> None:
    converted = as_bytes_array(np.array(["a", "bc"]))
    assert converted.dtype == object
    assert converted.tolist() == [b"a", b"bc"]
