"""What the pipeline tests build: real OpenVINO models behind the executor's ``infer`` callable, and
the C custom node libraries of ``servables/pipelines/c_nodes`` compiled with gcc."""

from __future__ import annotations

import asyncio
import ctypes
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovms_cli.errors import ModelNotFound
from ovms_cli.inference.ov_types import from_ov
from ovms_cli.servables.pipelines.custom_node_library import CustomNodeLibrary
from ovms_cli.servables.pipelines.signatures import NodeSignature, StaticModelCatalog
from ovms_cli.types import TensorMetadata

C_NODES = Path(__file__).parent / "servables" / "pipelines" / "c_nodes"


def square_model() -> ov.Model:
    """``y = x * x`` on ``x: FP32[-1, 4]``."""
    x = ops.parameter([-1, 4], ov.Type.f32, name="x")
    y = ops.multiply(x, x)
    y.output(0).get_tensor().set_names({"y"})
    return ov.Model([y], [x], "square")


def add_model() -> ov.Model:
    """``sum = a + b`` on ``a, b: FP32[-1, 4]``."""
    a = ops.parameter([-1, 4], ov.Type.f32, name="a")
    b = ops.parameter([-1, 4], ov.Type.f32, name="b")
    total = ops.add(a, b)
    total.output(0).get_tensor().set_names({"sum"})
    return ov.Model([total], [a, b], "add")


def relu_batched_model() -> ov.Model:
    """``out = relu(input)`` on ``input: FP32[-1, 3, 2, 2]`` (dim 0 is a free batch dimension)."""
    x = ops.parameter([-1, 3, 2, 2], ov.Type.f32, name="input")
    out = ops.relu(x)
    out.output(0).get_tensor().set_names({"out"})
    return ov.Model([out], [x], "relu_batched")


def _tensor(port: ov.Output) -> TensorMetadata:
    dtype = from_ov(port.get_element_type())
    assert dtype is not None
    shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
    return TensorMetadata(port.get_any_name(), dtype, shape)


class InProcessModels:
    """Compiled models served through ``infer(name, version, inputs)``, as the registry will."""

    def __init__(self, models: dict[str, ov.Model]) -> None:
        core = ov.Core()
        self.compiled = {name: core.compile_model(model, "CPU") for name, model in models.items()}
        self.calls: list[tuple[str, dict[str, tuple[int, ...]]]] = []

    async def infer(
        self, name: str, version: int | None, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        if name not in self.compiled:
            raise ModelNotFound(name)
        self.calls.append((name, {k: v.shape for k, v in inputs.items()}))
        return await asyncio.to_thread(self.run, name, inputs)

    def run(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One inference, called directly: the hand-made chain the pipeline is compared to."""
        compiled = self.compiled[name]
        request = compiled.create_infer_request()
        request.infer(inputs)
        return {port.get_any_name(): request.get_tensor(port).data.copy() for port in compiled.outputs}

    def catalog(self) -> StaticModelCatalog:
        signatures = {
            name: {1: NodeSignature.of([_tensor(p) for p in c.inputs], [_tensor(p) for p in c.outputs])}
            for name, c in self.compiled.items()
        }
        return StaticModelCatalog(signatures)


def compile_c_node(name: str, out_dir: Path) -> Path:
    """Builds ``c_nodes/<name>.c`` into ``<out_dir>/lib<name>.so`` with gcc (skips without gcc)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the C custom node tests need it")
    library = out_dir / f"lib{name}.so"
    command = [
        gcc,
        "-Wall",
        "-Wextra",
        "-Werror",
        "-shared",
        "-fPIC",
        "-O1",
        "-o",
        str(library),
        str(C_NODES / f"{name}.c"),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return library


@contextmanager
def no_leak(library: CustomNodeLibrary) -> Iterator[list[int]]:
    """Asserts that every buffer the test library handed out during the block went back through
    ``release``; yields a list that receives the number handed out."""
    counters = ctypes.CDLL(str(library.path))  # the same handle: dlopen counts references
    counters.test_handed_out.restype = counters.test_released.restype = ctypes.c_long
    before = (counters.test_handed_out(), counters.test_released())
    handed: list[int] = []
    yield handed
    handed.append(counters.test_handed_out() - before[0])
    assert counters.test_released() - before[1] == handed[0]
