"""Inputs from model metadata: shapes, datatypes, overrides and images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ovms_cli.bench.errors import BenchError
from ovms_cli.bench.inputs import ModelInfo, TensorInfo, make_inputs, parse_shapes

IMAGE = ModelInfo("resnet", (TensorInfo("input", "FP32", (-1, 3, 224, 224)),), ())
BERT = ModelInfo(
    "bert", (TensorInfo("input_ids", "INT64", (-1, 128)), TensorInfo("mask", "INT64", (-1, 128))), ()
)


def test_dynamic_dimensions_default_to_one_with_random_data_of_the_input_type() -> None:
    (item,) = make_inputs(IMAGE)
    assert (item.shape, item.array.dtype, len(item.raw())) == (
        (1, 3, 224, 224),
        np.float32,
        3 * 224 * 224 * 4,
    )
    ids, mask = make_inputs(BERT)
    assert ids.array.dtype == np.int64 and set(np.unique(mask.array)) <= {0, 1}


def test_shape_overrides_name_the_input_unless_there_is_only_one() -> None:
    assert parse_shapes(["8,3,224,224"], IMAGE.inputs) == {"input": (8, 3, 224, 224)}
    assert [i.shape for i in make_inputs(BERT, ["mask:4,128", "input_ids:4,128"])] == [(4, 128), (4, 128)]
    with pytest.raises(BenchError, match="name the input"):
        parse_shapes(["4,128"], BERT.inputs)
    with pytest.raises(BenchError, match="no input 'ids'"):
        parse_shapes(["ids:4,128"], BERT.inputs)


@pytest.mark.parametrize(
    ("shape", "message"),
    [("1,3,100,224", "fixed at 224"), ("1,224,224", "rank 3"), ("1,x", "integers"), ("", "non-negative")],
)
def test_shape_overrides_that_cannot_fit_are_refused(shape: str, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        make_inputs(IMAGE, [shape])


def test_an_image_file_is_one_bytes_element(tmp_path: Path) -> None:
    image = tmp_path / "cat.jpg"
    image.write_bytes(b"\xff\xd8jpeg")
    (item,) = make_inputs(IMAGE, image=image)
    assert (item.datatype, item.shape, item.raw()) == ("BYTES", (1,), b"\x06\x00\x00\x00\xff\xd8jpeg")
    with pytest.raises(BenchError, match="binary data only"):
        item.json_data()
    with pytest.raises(BenchError, match="single-input"):
        make_inputs(BERT, image=image)
