import openvino as ov
import pytest

from ovms_cli.inference.shapes import Dim, shape_from_ov, shape_to_ov
from ovms_cli.types import format_shape


@pytest.mark.parametrize(
    ("dim", "accepted", "refused", "text", "metadata"),
    [
        (Dim.fixed(3), [3], [2, 4], "3", 3),
        (Dim.any(), [0, 1, 10_000], [], "-1", -1),
        (Dim(2, 5), [2, 5], [1, 6], "[2~5]", -1),
    ],
)
def test_dims_accept_print_and_report_like_ovms(
    dim: Dim, accepted: list[int], refused: list[int], text: str, metadata: int
) -> None:
    assert all(dim.accepts(n) for n in accepted)
    assert not any(dim.accepts(n) for n in refused)
    assert str(dim) == text
    assert dim.metadata() == metadata


def test_shapes_round_trip_through_openvino() -> None:
    shape = (Dim.fixed(1), Dim.any(), Dim(2, 8))
    partial = shape_to_ov(shape)
    assert partial == ov.PartialShape([ov.Dimension(1), ov.Dimension(), ov.Dimension(2, 8)])
    assert shape_from_ov(partial) == shape
    assert format_shape(shape) == "(1,-1,[2~8])"
