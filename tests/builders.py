"""Tiny models the tests build themselves: OpenVINO IR through the opset API, ONNX through `onnx`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import openvino as ov
import openvino.opset13 as ops
from onnx import TensorProto, helper


def affine_model() -> ov.Model:
    """``scaled = input * 2 + 1`` and ``total = sum(input, axis=1)`` on ``input: FP32[-1, 4]``."""
    x = ops.parameter([-1, 4], ov.Type.f32, name="input")
    scaled = ops.add(ops.multiply(x, ops.constant(np.float32(2))), ops.constant(np.float32(1)))
    total = ops.reduce_sum(x, ops.constant(np.array([1], np.int64)), False)
    scaled.output(0).get_tensor().set_names({"scaled"})
    total.output(0).get_tensor().set_names({"total"})
    return ov.Model([scaled, total], [x], "affine")


def fixed_batch_model() -> ov.Model:
    """``out = relu(input)`` on ``input: FP32[1, 3, 2, 2]`` (every dimension fixed)."""
    x = ops.parameter([1, 3, 2, 2], ov.Type.f32, name="input")
    out = ops.relu(x)
    out.output(0).get_tensor().set_names({"out"})
    return ov.Model([out], [x], "fixed")


def string_echo_model() -> ov.Model:
    """U8[-1, -1] identity whose output name ends in ``_string``: strings in, strings out."""
    x = ops.parameter([-1, -1], ov.Type.u8, name="text")
    out = ops.convert(ops.convert(x, ov.Type.i32), ov.Type.u8)
    out.output(0).get_tensor().set_names({"echo_string"})
    return ov.Model([out], [x], "echo")


def reshape_by_input_model() -> ov.Model:
    """``y = reshape(x, s)`` on ``x: FP32[-1]``, ``s: INT64[2]``: a bad ``s`` fails only once the
    inference has started."""
    x = ops.parameter([-1], ov.Type.f32, name="x")
    s = ops.parameter([2], ov.Type.i64, name="s")
    y = ops.reshape(x, s, False)
    y.output(0).get_tensor().set_names({"y"})
    return ov.Model([y], [x, s], "reshape_by_input")


def log_model() -> ov.Model:
    """``y = log(x)`` on ``x: FP32[-1]``: NaN for negative inputs, -Inf for zero."""
    x = ops.parameter([-1], ov.Type.f32, name="x")
    y = ops.log(x)
    y.output(0).get_tensor().set_names({"y"})
    return ov.Model([y], [x], "log")


def widen_u8_model() -> ov.Model:
    """``wide = int32(small)`` on ``small: U8[-1]``: any value a UINT8 holds comes back unchanged."""
    x = ops.parameter([-1], ov.Type.u8, name="small")
    wide = ops.convert(x, ov.Type.i32)
    wide.output(0).get_tensor().set_names({"wide"})
    return ov.Model([wide], [x], "widen_u8")


def write_ir(model: ov.Model, base: Path, version: int = 1) -> Path:
    folder = base / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(folder / "model.xml"))
    return base


def write_onnx(graph: onnx.GraphProto, base: Path, version: int = 1) -> Path:
    """Check ``graph`` as an opset-13 model and save it as ``base/<version>/model.onnx``."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    folder = base / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    return base


def write_onnx_add_mul(base: Path, version: int = 1) -> Path:
    """ONNX: ``sum = a + b`` and ``product = a * b`` on INT32[-1, 3]."""
    a = helper.make_tensor_value_info("a", TensorProto.INT32, ["batch", 3])
    b = helper.make_tensor_value_info("b", TensorProto.INT32, ["batch", 3])
    total = helper.make_tensor_value_info("sum", TensorProto.INT32, ["batch", 3])
    product = helper.make_tensor_value_info("product", TensorProto.INT32, ["batch", 3])
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["product"])],
        "add_mul",
        [a, b],
        [total, product],
    )
    return write_onnx(graph, base, version)


def run_in_process(model_dir: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference: the same model file run with OpenVINO directly."""
    xml = next(model_dir.glob("*.xml"), None) or next(model_dir.glob("*.onnx"))
    compiled = ov.Core().compile_model(str(xml), "CPU")
    result = compiled(inputs)
    return {next(iter(port.get_names())): np.asarray(value) for port, value in result.items()}


def image_nchw_model() -> ov.Model:
    """A 1x1 convolution mixing colour channels on ``image: FP32[-1, 3, 8, 8]`` (NCHW), plus the mean."""
    x = ops.parameter([-1, 3, 8, 8], ov.Type.f32, name="image")
    weights = np.array([[1.0, 0.5, -1.0], [0.25, -0.5, 2.0]], np.float32).reshape(2, 3, 1, 1)
    mixed = ops.convolution(x, ops.constant(weights), [1, 1], [0, 0], [0, 0], [1, 1])
    mean = ops.reduce_mean(x, ops.constant(np.array([1, 2, 3], np.int64)), False)
    mixed.output(0).get_tensor().set_names({"mixed"})
    mean.output(0).get_tensor().set_names({"mean"})
    return ov.Model([mixed, mean], [x], "image_nchw")


def image_nhwc_model() -> ov.Model:
    """Per-channel sums on ``image: FP32[1, 16, 16, 3]`` (NHWC, every dimension fixed: images get resized)."""
    x = ops.parameter([1, 16, 16, 3], ov.Type.f32, name="image")
    sums = ops.reduce_sum(x, ops.constant(np.array([1, 2], np.int64)), False)
    sums.output(0).get_tensor().set_names({"channel_sums"})
    return ov.Model([sums], [x], "image_nhwc")


def echo_model(shape: list[int], element_type: ov.Type = ov.Type.f32, name: str = "x") -> ov.Model:
    """``echo = x`` (through an arithmetic no-op, so OpenVINO keeps a real graph) on ``x`` of ``shape``."""
    x = ops.parameter(shape, element_type, name=name)
    zero = np.zeros((), element_type.to_dtype())
    echo = ops.add(x, ops.constant(zero))
    echo.output(0).get_tensor().set_names({"echo"})
    return ov.Model([echo], [x], "echo")


def write_onnx_channel_conv(
    base: Path, version: int = 1, names: tuple[str, str] = ("data", "output")
) -> Path:
    """ONNX: a 1x1 convolution ``output[c] = (c + 1) * data[c]`` on ``data: FP32[1, 3, h, w]`` (NCHW).

    Every value stays on its own channel and pixel, so the output shows what preprocessing fed in.
    ``names``: the input's and the output's.
    """
    data = helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [1, 3, "height", "width"])
    output = helper.make_tensor_value_info(names[1], TensorProto.FLOAT, [1, 3, "height", "width"])
    weights = helper.make_tensor(
        "weights", TensorProto.FLOAT, [3, 3, 1, 1], np.diag(CHANNEL_GAINS).astype(np.float32).ravel()
    )
    graph = helper.make_graph(
        [helper.make_node("Conv", [names[0], "weights"], [names[1]])],
        "channel_conv",
        [data],
        [output],
        [weights],
    )
    return write_onnx(graph, base, version)


CHANNEL_GAINS = np.array([1.0, 2.0, 3.0], np.float32)  # of write_onnx_channel_conv's channels
