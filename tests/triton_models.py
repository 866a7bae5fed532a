"""Models shaped like the ones Triton's client examples call, built with OpenVINO's opset API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from builders import write_ir


def simple_model(batch: int = 1) -> ov.Model:
    """Triton's ``simple``: INPUT0, INPUT1 INT32[batch,16] → OUTPUT0 = sum, OUTPUT1 = difference."""
    a = ops.parameter([batch, 16], ov.Type.i32, name="INPUT0")
    b = ops.parameter([batch, 16], ov.Type.i32, name="INPUT1")
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
    """``simple``, ``densenet_onnx`` and ``simple_batched`` (``simple`` on INT32[-1,16] with dynamic
    batching up to 8 rows, 2 ms) under ``root`` with an OVMS config.json; returns the config."""
    write_ir(simple_model(), root / "simple")
    write_ir(densenet_like_model(), root / "densenet_onnx")
    write_ir(simple_model(-1), root / "simple_batched")
    models = [
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
