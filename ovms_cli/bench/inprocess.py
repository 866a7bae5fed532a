"""The reference: the same model, inputs, warmup and duration, run in-process with ``AsyncInferQueue``.

It runs twice: with the server's default plugin config (``PERFORMANCE_HINT: THROUGHPUT``) and
with ``LATENCY``; the best of the two is what the server is compared with.

Policy, the same at every concurrency: as many infer requests as the server has by default
(twice ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``, ``default_nireq``: a Python loop that restarts
them leaves the streams idle in between with fewer, here as in the server), and ``concurrency``
closed-loop clients using them (the queue holds
``min(concurrency, nireq)``: requests no client could use would stay idle). When there are more
clients than infer requests, a client waits for an idle one, as a request waits in the server's
queue, and that wait counts in its latency. Both sides thus see the same offered load and the
same parallelism. Each infer request gets the input tensors once (shared memory);
BYTES images are decoded once, the way the server decodes each request's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov

from ovms_cli.bench.errors import BenchError
from ovms_cli.bench.inputs import BYTES, BenchInput
from ovms_cli.bench.stats import Measurement
from ovms_cli.config.model_config import ModelConfig
from ovms_cli.inference import ov_types
from ovms_cli.inference.images import decode_images
from ovms_cli.inference.shapes import shape_from_ov
from ovms_cli.inference.tensor_spec import TensorSpec
from ovms_cli.repository.versions import RepositoryError, find_model_file, version_directories
from ovms_cli.servables.model_loader import default_nireq, plugin_config_with_defaults

LATENCY_CONFIG: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
NS_PER_US = 1_000
NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class InprocessRun:
    hint: str
    nireq: int
    measurement: Measurement

    def to_dict(self) -> dict[str, Any]:
        return {"hint": self.hint, "nireq": self.nireq, **self.measurement.to_dict()}


@dataclass(frozen=True, slots=True)
class InprocessResult:
    model_file: Path
    runs: tuple[InprocessRun, ...]  # the server's config first

    @property
    def server_config(self) -> InprocessRun:
        return self.runs[0]

    @property
    def best(self) -> InprocessRun:
        return max(self.runs, key=lambda run: run.measurement.throughput)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_file": str(self.model_file),
            "runs": [run.to_dict() for run in self.runs],
            "best": self.best.hint,
        }


def locate_model(path: Path, version: str = "") -> Path:
    """The model file of ``path``: itself, the file in it, or the one in its (given or latest) version folder."""
    if path.is_file():
        return path
    try:
        versions = version_directories(path)
        if not versions:
            return find_model_file(path)
        folder = versions[int(version)] if version else versions[max(versions)]
        return find_model_file(folder)
    except (RepositoryError, KeyError, ValueError) as error:
        raise BenchError(f"--inprocess {path}: no model file for version {version or 'latest'}") from error


def run_inprocess(
    path: Path,
    inputs: Sequence[BenchInput],
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    version: str = "",
) -> InprocessResult:
    model_file = locate_model(path, version)
    core = ov.Core()
    server_config = plugin_config_with_defaults(ModelConfig(name="inprocess", base_path=str(path)))
    configs = {str(server_config.get("PERFORMANCE_HINT", "server")): server_config, "LATENCY": LATENCY_CONFIG}
    try:
        model = core.read_model(str(model_file))
        runs = tuple(
            _run(core.compile_model(model, "CPU", config), hint, inputs, concurrency, warmup_s, duration_s)
            for hint, config in configs.items()
        )
    except RuntimeError as error:
        raise BenchError(f"in-process run of {model_file}: {str(error).splitlines()[0]}") from error
    return InprocessResult(model_file, runs)


def _run(
    compiled: ov.CompiledModel,
    hint: str,
    inputs: Sequence[BenchInput],
    concurrency: int,
    warmup_s: float,
    duration_s: float,
) -> InprocessRun:
    nireq = default_nireq(compiled)
    infer_queue = ov.AsyncInferQueue(compiled, min(concurrency, nireq))
    tensors = _tensors(compiled, inputs)
    for request in infer_queue:
        for port, tensor in tensors:
            request.set_tensor(port, tensor)
    measurement = _closed_loop(infer_queue, concurrency, warmup_s, duration_s)
    return InprocessRun(hint, nireq, measurement)


def _closed_loop(
    infer_queue: ov.AsyncInferQueue, concurrency: int, warmup_s: float, duration_s: float
) -> Measurement:
    """Without Python callbacks: one would need the GIL in OpenVINO's threads, and the queue's
    destructor, which holds the GIL, waits for them."""
    start_ns = time.monotonic_ns()
    window_start = start_ns + int(warmup_s * NS_PER_S)
    window_end = window_start + int(duration_s * NS_PER_S)
    sent_at: list[int | None] = [None] * len(infer_queue)  # per infer request, its client's send time
    waiting = deque([start_ns] * concurrency)  # when each client not in flight became ready to send
    latencies_us: list[int] = []
    while True:
        idle = infer_queue.get_idle_request_id()  # blocks until one is free; OpenVINO releases the GIL
        now = time.monotonic_ns()
        if (sent := sent_at[idle]) is not None:
            if window_start <= now <= window_end:
                latencies_us.append((now - sent) // NS_PER_US)
            waiting.append(now)
        if now >= window_end:
            break
        sent_at[idle] = waiting.popleft()
        infer_queue.start_async()  # starts the idle request just returned: the first in the idle order
    infer_queue.wait_all()
    return Measurement(duration_s, np.asarray(latencies_us, dtype=np.int64))


def _tensors(compiled: ov.CompiledModel, inputs: Sequence[BenchInput]) -> list[tuple[ov.Output, ov.Tensor]]:
    ports = list(compiled.inputs)
    if len(ports) != len(inputs):
        raise BenchError(f"the in-process model has {len(ports)} inputs, the served one {len(inputs)}")
    by_name = {name: port for port in ports for name in port.get_names()}
    chosen = [by_name.get(item.name, port) for item, port in zip(inputs, ports, strict=True)]
    return [(port, _tensor(port, item)) for port, item in zip(chosen, inputs, strict=True)]


def _tensor(port: ov.Output, item: BenchInput) -> ov.Tensor:
    if item.datatype != BYTES:
        return ov.Tensor(np.ascontiguousarray(item.array), shared_memory=True)
    if port.get_element_type() == ov.Type.string:
        return ov.Tensor(item.array.astype(np.bytes_))
    return ov.Tensor(_decoded_image(port, item), shared_memory=True)


def _decoded_image(port: ov.Output, item: BenchInput) -> npt.NDArray[Any]:
    dtype = ov_types.from_ov(port.get_element_type())
    partial = port.get_partial_shape()
    if dtype is None or partial.rank.is_dynamic:
        raise BenchError(f"input {item.name}: the in-process model cannot take a decoded image")
    layout = ov.layout_helpers.get_layout(port).to_string().strip("[]").replace(",", "")
    spec = TensorSpec(
        item.name, port.get_index(), dtype, shape_from_ov(partial), 0, "" if layout == "..." else layout
    )
    return np.ascontiguousarray(decode_images(item.array, spec))
