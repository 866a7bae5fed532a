"""The benchmark topologies build, and infer once at batch 1 with the documented output shape."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import openvino as ov
import pytest

MODELS_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "models.py"
IMAGE = {"input": np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)}
TOKENS = {"input_ids": np.ones((1, 128), np.int64), "attention_mask": np.ones((1, 128), np.int64)}


def _models() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_models", MODELS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "inputs", "output", "shape"),
    [
        ("resnet50", IMAGE, "probabilities", (1, 1000)),
        ("mobilenet_v2", IMAGE, "probabilities", (1, 1000)),
        ("bert_small", TOKENS, "logits", (1, 2)),
    ],
)
def test_builds_with_a_dynamic_batch_and_infers(
    name: str, inputs: dict[str, np.ndarray], output: str, shape: tuple[int, ...]
) -> None:
    model = _models().BUILDERS[name]()
    assert all(port.get_partial_shape()[0].is_dynamic for port in model.inputs)
    assert sorted(p.get_any_name() for p in model.inputs) == sorted(inputs)
    result = ov.Core().compile_model(model, "CPU")(inputs)
    (port,) = result.keys()
    assert port.get_any_name() == output
    assert result[port].shape == shape
    assert np.isfinite(result[port]).all()


def test_write_model_saves_an_ovms_base_path_once(tmp_path: Path) -> None:
    models = _models()
    base = models.write_model("bert_small", tmp_path / "bert")
    xml = base / "1" / "model.xml"
    written = xml.stat().st_mtime_ns
    assert models.write_model("bert_small", tmp_path / "bert") == base
    assert xml.stat().st_mtime_ns == written
    assert ov.Core().read_model(str(xml)).inputs[0].get_partial_shape()[0].is_dynamic
