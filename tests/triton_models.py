"""Models shaped like the ones Triton's client examples call, built with OpenVINO's opset API.

The string models (``simple_string``, ``simple_identity``) take and give OpenVINO string tensors
through openvino-tokenizers' StringTensorUnpack/StringTensorPack; a server loads them with
``--cpu_extension`` set to ``TOKENIZERS_EXTENSION``. Everything between is opset arithmetic on the
characters: decimal text → int32 → decimal text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import openvino_tokenizers
from builders import write_ir

TOKENIZERS_EXTENSION = Path(openvino_tokenizers._ext_path)
_WIDTH = 11  # characters of a formatted int32: ten digits and a sign
_MINUS, _ZERO = 45, 48


def simple_model(batch: int = 1, element_type: ov.Type = ov.Type.i32) -> ov.Model:
    """Triton's ``simple``: INPUT0, INPUT1 INT32[batch,16] → OUTPUT0 = sum, OUTPUT1 = difference
    (``simple_int8`` with ``element_type`` i8)."""
    a = ops.parameter([batch, 16], element_type, name="INPUT0")
    b = ops.parameter([batch, 16], element_type, name="INPUT1")
    total, difference = ops.add(a, b), ops.subtract(a, b)
    total.output(0).get_tensor().set_names({"OUTPUT0"})
    difference.output(0).get_tensor().set_names({"OUTPUT1"})
    return ov.Model([total, difference], [a, b], "simple")


def densenet_like_model() -> ov.Model:
    """The names and shapes grpc_client.py sends to ``densenet_onnx``: data_0 FP32[3,224,224] → fc6_1
    FP32[1000,1,1] (the per-channel means of the first 1000 rows; no trained weights)."""
    data = ops.parameter([3, 224, 224], ov.Type.f32, name="data_0")
    rows = ops.reshape(data, ops.constant(np.array([672, 224], np.int64)), False)
    means = ops.reduce_mean(rows, ops.constant(np.array([1], np.int64)), False)
    padded = ops.concat([means, ops.slice(means, [0], [328], [1])], 0)
    out = ops.reshape(padded, ops.constant(np.array([1000, 1, 1], np.int64)), False)
    out.output(0).get_tensor().set_names({"fc6_1"})
    return ov.Model([out], [data], "densenet_onnx")


def write_triton_repository(root: Path) -> Path:
    """``simple``, ``densenet_onnx``, ``simple_batched`` (``simple`` on INT32[-1,16] with dynamic
    batching up to 8 rows, 2 ms), ``simple_int8``, ``simple_string`` and ``simple_identity`` under ``root`` with an
    OVMS config.json; returns the config (serve it with ``--cpu_extension TOKENIZERS_EXTENSION``)."""
    write_ir(simple_model(), root / "simple")
    write_ir(densenet_like_model(), root / "densenet_onnx")
    write_ir(simple_model(-1), root / "simple_batched")
    write_ir(simple_string_model(), root / "simple_string")
    write_ir(simple_identity_model(), root / "simple_identity")
    write_ir(simple_model(element_type=ov.Type.i8), root / "simple_int8")
    models = [
        {"name": "simple_int8", "base_path": str(root / "simple_int8")},
        {"name": "simple_string", "base_path": str(root / "simple_string")},
        {"name": "simple_identity", "base_path": str(root / "simple_identity")},
        {"name": "simple", "base_path": str(root / "simple")},
        {"name": "densenet_onnx", "base_path": str(root / "densenet_onnx")},
        {
            "name": "simple_batched",
            "base_path": str(root / "simple_batched"),
            "dynamic_batching": {"max_batch_size": 8, "max_batch_delay_us": 2000},
        },
    ]
    config = root / "config.json"
    config.write_text(json.dumps({"model_config_list": [{"config": m} for m in models]}, indent=2))
    return config


def simple_string_model() -> ov.Model:
    """Triton's ``simple_string``: INPUT0, INPUT1 STRING[1,16] holding decimal integers → OUTPUT0
    their sums and OUTPUT1 their differences, as decimal strings."""
    a = ops.parameter([1, 16], ov.Type.string, name="INPUT0")
    b = ops.parameter([1, 16], ov.Type.string, name="INPUT1")
    x, y = _parse_integers(a), _parse_integers(b)
    total, difference = _format_integers(ops.add(x, y), a), _format_integers(ops.subtract(x, y), a)
    total.output(0).get_tensor().set_names({"OUTPUT0"})
    difference.output(0).get_tensor().set_names({"OUTPUT1"})
    return ov.Model([total.output(0), difference.output(0)], [a, b], "simple_string")


def simple_identity_model() -> ov.Model:
    """Triton's ``simple_identity``: INPUT0 STRING[-1,-1] → OUTPUT0, byte for byte."""
    x = ops.parameter([-1, -1], ov.Type.string, name="INPUT0")
    begins, ends, chars = _string_op("StringTensorUnpack", x).outputs()
    out = _string_op("StringTensorPack", begins, ends, chars)
    out.output(0).get_tensor().set_names({"OUTPUT0"})
    return ov.Model([out.output(0)], [x], "simple_identity")


def _string_op(name: str, *args: ov.Node | ov.Output) -> ov.Node:
    outputs = [arg.output(0) if isinstance(arg, ov.Node) else arg for arg in args]
    return openvino_tokenizers._get_factory().create(name, outputs)


def _i64(value: int) -> ov.Node:
    return ops.constant(np.int64(value))


def _parse_integers(text: ov.Node) -> ov.Node:
    """Each string's decimal value (an optional '-', then digits) as int32, in ``text``'s shape."""
    _, ends, chars = _string_op("StringTensorUnpack", text).outputs()  # chars are contiguous
    ends = ops.convert(ops.reshape(ends, [-1], False), "i64")
    positions = ops.range(_i64(0), ops.squeeze(ops.shape_of(chars, "i64"), [0]), _i64(1), "i64")
    owner = ops.bucketize(positions, ends, "i64", with_right_bound=False)  # which string a char is in
    codes = ops.convert(chars, "i64")
    minus = ops.equal(codes, _i64(_MINUS))
    digits = ops.select(minus, _i64(0), ops.subtract(codes, _i64(_ZERO)))
    exponents = ops.subtract(ops.subtract(ops.gather(ends, owner, 0), positions), _i64(1))
    terms = ops.multiply(digits, ops.power(_i64(10), exponents))
    zeros = ops.broadcast(_i64(0), ops.shape_of(ends, "i64"))
    magnitude = ops.scatter_elements_update(zeros, owner, terms, 0, "sum")
    signs = ops.scatter_elements_update(zeros, owner, ops.convert(minus, "i64"), 0, "sum")
    value = ops.select(ops.greater(signs, _i64(0)), ops.negative(magnitude), magnitude)
    return ops.reshape(ops.convert(value, "i32"), ops.shape_of(text), False)


def _format_integers(values: ov.Node, like: ov.Node) -> ov.Node:
    """Each int32 as its shortest decimal string, in ``like``'s shape: every number is written
    right-aligned into an ``_WIDTH``-character row and its string starts where its text does."""
    flat = ops.convert(ops.reshape(values, [-1], False), "i64")
    negative = ops.less(flat, _i64(0))
    magnitude = ops.unsqueeze(ops.abs(flat), [1])
    powers = ops.constant(10 ** np.arange(_WIDTH - 1, -1, -1, dtype=np.int64))
    digits = ops.floor_mod(ops.divide(magnitude, powers), _i64(10))
    one = ops.constant(np.array([1], np.int64))
    widths = ops.maximum(
        ops.reduce_sum(ops.convert(ops.greater_equal(magnitude, powers), "i64"), one, False), _i64(1)
    )
    columns = ops.constant(np.arange(_WIDTH, dtype=np.int64))
    sign_column = ops.unsqueeze(ops.subtract(_i64(_WIDTH - 1), widths), [1])
    is_sign = ops.logical_and(ops.unsqueeze(negative, [1]), ops.equal(columns, sign_column))
    codes = ops.select(is_sign, _i64(_MINUS), ops.add(digits, _i64(_ZERO)))
    chars = ops.reshape(ops.convert(codes, "u8"), [-1], False)
    rows = ops.range(_i64(0), ops.squeeze(ops.shape_of(flat, "i64"), [0]), _i64(1), "i64")
    ends = ops.multiply(ops.add(rows, _i64(1)), _i64(_WIDTH))
    begins = ops.subtract(ends, ops.add(widths, ops.convert(negative, "i64")))
    shape = ops.shape_of(like, "i64")
    as_text = [ops.reshape(ops.convert(edge, "i32"), shape, False) for edge in (begins, ends)]
    return _string_op("StringTensorPack", *as_text, chars)
