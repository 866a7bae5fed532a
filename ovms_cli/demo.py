"""A small model repository the project builds itself, for the README's first command and demos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

DEMO_MODEL = "demo"
FEATURES = 4
CLASSES = 3


def build_classifier(seed: int = 0) -> ov.Model:
    """``probabilities = softmax(input @ W + b)`` on ``input: FP32[-1, 4]``, fixed random weights."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    bias = rng.standard_normal(CLASSES).astype(np.float32)
    x = ops.parameter([-1, FEATURES], ov.Type.f32, name="input")
    logits = ops.add(ops.matmul(x, ops.constant(weights), False, False), ops.constant(bias))
    probabilities = ops.softmax(logits, 1)
    probabilities.output(0).get_tensor().set_names({"probabilities"})
    return ov.Model([probabilities], [x], DEMO_MODEL)


def write_demo_repository(root: Path) -> Path:
    """Write ``root/demo/1/model.{xml,bin}`` and ``root/config.json``; return the config path."""
    version_dir = root / DEMO_MODEL / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(build_classifier(), str(version_dir / "model.xml"))
    config = root / "config.json"
    entry = {"config": {"name": DEMO_MODEL, "base_path": DEMO_MODEL}}
    config.write_text(json.dumps({"model_config_list": [entry]}, indent=2) + "\n")
    return config
