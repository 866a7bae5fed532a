"""mean/scale/color_format/precision folded into real models, against the same steps done in numpy."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from builders import echo_model, write_ir

from ovms_cli import types
from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.preprocessing import (
    MeanOrScale,
    Preprocessing,
    parse_color_format,
    parse_precision,
)
from ovms_cli.inference.shapes import Dim
from ovms_cli.servables.model_loader import LoadedModel, LoadError, Runtime, load_model

RNG = np.random.default_rng(19)
MEAN = (123.675, 116.28, 103.53)
SCALE = (58.395, 57.12, 57.375)


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime(ov.Core())


def _load(runtime: Runtime, tmp_path: Path, model: ov.Model, **options: object) -> LoadedModel:
    write_ir(model, tmp_path / "m")
    config = replace(ModelConfig(name="m", base_path=str(tmp_path / "m")), **options)  # type: ignore[arg-type]
    return load_model(runtime, config, tmp_path / "m" / "1")


def _infer(loaded: LoadedModel, data: np.ndarray) -> np.ndarray:
    return np.asarray(loaded.compiled({0: data})[loaded.compiled.outputs[0]])


def _normalised(values: MeanOrScale | None, neutral: float) -> np.ndarray:
    return np.asarray(neutral if values is None else values, np.float32)


def numpy_reference(
    nhwc: np.ndarray, mean: MeanOrScale | None, scale: MeanOrScale | None, reverse_channels: bool
) -> np.ndarray:
    """OVMS's steps by hand: channel swap, float, minus mean, divided by scale, NHWC to NCHW."""
    pixels = nhwc[..., ::-1] if reverse_channels else nhwc
    normalised = (pixels.astype(np.float32) - _normalised(mean, 0.0)) / _normalised(scale, 1.0)
    return normalised.transpose(0, 3, 1, 2)


@pytest.mark.parametrize("color", [None, "BGR:RGB", "RGB:BGR", "RGB:RGB"])
@pytest.mark.parametrize(("mean", "scale"), [(MEAN, SCALE), (127.5, 255.0), (None, SCALE), (MEAN, None)])
def test_composed_preprocessing_equals_numpy_on_the_same_input(
    runtime: Runtime,
    tmp_path: Path,
    color: str | None,
    mean: MeanOrScale | None,
    scale: MeanOrScale | None,
) -> None:
    preprocessing = Preprocessing(
        mean=mean,
        scale=scale,
        color_format=parse_color_format(color) if color else None,
        precision=parse_precision("uint8:fp32"),
    )
    loaded = _load(
        runtime, tmp_path, echo_model([1, 3, 6, 5]), layout="NHWC:NCHW", preprocessing=preprocessing
    )
    data = RNG.integers(0, 256, (1, 6, 5, 3), dtype=np.uint8)
    reversed_ = color is not None and color.split(":")[0] != color.split(":")[1]
    np.testing.assert_allclose(
        _infer(loaded, data), numpy_reference(data, mean, scale, reversed_), rtol=1e-6, atol=1e-5
    )


def test_metadata_reports_the_inputs_clients_now_send(runtime: Runtime, tmp_path: Path) -> None:
    preprocessing = Preprocessing(
        mean=MEAN,
        scale=SCALE,
        color_format=parse_color_format("BGR:RGB"),
        precision=parse_precision("uint8:fp32"),
    )
    loaded = _load(
        runtime,
        tmp_path,
        echo_model([1, 3, -1, -1]),
        layout="NHWC:NCHW",
        shape=(Dim.fixed(1), Dim.fixed(224), Dim.fixed(224), Dim.fixed(3)),
        preprocessing=preprocessing,
    )
    spec = loaded.inputs["x"]
    assert (spec.dtype, spec.shape, spec.layout) == (
        types.U8,
        tuple(Dim.fixed(d) for d in (1, 224, 224, 3)),
        "NHWC",
    )
    assert loaded.outputs["echo"].dtype == types.FP32


def test_float_clients_without_precision_get_the_same_normalisation(runtime: Runtime, tmp_path: Path) -> None:
    preprocessing = Preprocessing(mean=MEAN, scale=SCALE)
    loaded = _load(
        runtime, tmp_path, echo_model([1, 3, 4, 4]), layout="NHWC:NCHW", preprocessing=preprocessing
    )
    data = RNG.uniform(0, 255, (1, 4, 4, 3)).astype(np.float32)
    assert loaded.inputs["x"].dtype == types.FP32
    np.testing.assert_allclose(
        _infer(loaded, data), numpy_reference(data, MEAN, SCALE, False), rtol=1e-6, atol=1e-5
    )


def test_gray_models_take_color_clients(runtime: Runtime, tmp_path: Path) -> None:
    preprocessing = Preprocessing(
        color_format=parse_color_format("GRAY:BGR"), precision=parse_precision("uint8:fp32")
    )
    loaded = _load(
        runtime, tmp_path, echo_model([1, 1, 4, 4]), layout="NHWC:NCHW", preprocessing=preprocessing
    )
    data = RNG.integers(0, 256, (1, 4, 4, 3), dtype=np.uint8)
    blue, green, red = (data[..., i].astype(np.float32) for i in range(3))
    gray = 0.299 * red + 0.587 * green + 0.114 * blue  # ITU-R BT.601, as OpenVINO's convert_color
    assert loaded.inputs["x"].shape == tuple(Dim.fixed(d) for d in (1, 4, 4, 3))
    # OVMS's order converts the color before the precision: in uint8, so rounded
    np.testing.assert_allclose(_infer(loaded, data)[:, 0], np.rint(gray), atol=1.0)
    assert not np.allclose(_infer(loaded, data)[:, 0], gray, atol=0.01)


def test_nv12_clients_send_one_plane_of_one_and_a_half_rows(runtime: Runtime, tmp_path: Path) -> None:
    preprocessing = Preprocessing(
        color_format=parse_color_format("BGR:NV12"), precision=parse_precision("uint8:fp32")
    )
    loaded = _load(
        runtime, tmp_path, echo_model([1, 3, 4, 6]), layout="NHWC:NCHW", preprocessing=preprocessing
    )
    spec = loaded.inputs["x"]
    assert (spec.dtype, spec.shape) == (types.U8, tuple(Dim.fixed(d) for d in (1, 6, 6, 1)))
    gray_nv12 = np.full((1, 6, 6, 1), 128, np.uint8)  # Y = U = V = 128: mid gray in every channel
    np.testing.assert_allclose(_infer(loaded, gray_nv12), np.full((1, 3, 4, 6), 128.0), atol=2.0)


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        (
            echo_model([1, 3, 4, 4]),
            {"layout": "NHWC:NCHW", "preprocessing": Preprocessing(mean=(1.0, 2.0))},
            "mean implies 2 channel\\(s\\) but input x has 3 \\(dimension C of layout NCHW\\)",
        ),
        (
            echo_model([1, 3, 4, 4]),
            {
                "layout": "NHWC:NCHW",
                "preprocessing": Preprocessing(color_format=parse_color_format("GRAY:BGR")),
            },
            "color_format implies 1 channel\\(s\\) but input x has 3",
        ),
        (
            echo_model([1, 3, 4, 4]),
            {"preprocessing": Preprocessing(scale=SCALE)},
            "per-channel scale need\\(s\\) a layout with C",
        ),
        (
            echo_model([1, 3, 4, 4]),
            {"layout": "NHWC:NCHW", "preprocessing": Preprocessing(precision=parse_precision("uint8:fp16"))},
            "precision uint8:fp16 names fp16 as the model's precision, but input x is f32",
        ),
        (
            echo_model([1, 3, 4, 4], ov.Type.i32),
            {"layout": "NHWC:NCHW", "preprocessing": Preprocessing(mean=1.0)},
            "Cannot apply preprocessing \\(mean 1\\): .*Mean preprocessing can be applied to 'float' inputs",
        ),
    ],
    ids=["mean-channels", "gray-on-color", "no-layout", "model-precision", "integer-mean"],
)
def test_options_that_do_not_fit_the_model_fail_the_load_clearly(
    runtime: Runtime, tmp_path: Path, model: ov.Model, options: dict[str, object], message: str
) -> None:
    with pytest.raises(LoadError, match=message):
        _load(runtime, tmp_path, model, **options)


def test_a_model_with_two_inputs_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    import openvino.opset13 as ops

    a = ops.parameter([1, 3], ov.Type.f32, name="a")
    b = ops.parameter([1, 3], ov.Type.f32, name="b")
    total = ops.add(a, b)
    total.output(0).get_tensor().set_names({"total"})
    with pytest.raises(LoadError, match="apply to a model with one input; this one has 2"):
        _load(runtime, tmp_path, ov.Model([total], [a, b], "two"), preprocessing=Preprocessing(mean=1.0))
