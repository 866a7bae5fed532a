"""In-process images/s of MobileNet-V2 with a dynamic batch dimension vs the same model fixed at
each batch size: the evidence for the static buckets of dynamic batching (``inference/batcher.py``).

    python benchmarks/static_batch.py   (after benchmarks/run.py has built the models)

THROUGHPUT hint, twice the optimal number of infer requests (the server's default), 8 in flight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov

from ovms_cli.bench.inprocess import _closed_loop
from ovms_cli.servables.model_loader import default_nireq

MODEL = Path(__file__).resolve().parent / "out" / "models" / "mobilenet_v2" / "1" / "model.xml"
SECONDS = 4.0


def images_per_second(core: ov.Core, model: ov.Model, batch: int) -> float:
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    queue = ov.AsyncInferQueue(compiled, default_nireq(compiled))
    port = compiled.inputs[0]
    shape = [batch, *(d.get_length() for d in list(port.get_partial_shape())[1:])]
    data = ov.Tensor(np.ones(shape, np.float32))
    for request in queue:
        request.set_tensor(port, data)
    measured = _closed_loop(queue, 8, 1.0, SECONDS)
    return len(measured.latencies_us) * batch / SECONDS


def with_batch(core: ov.Core, batch: int | None) -> ov.Model:
    model = core.read_model(str(MODEL))
    port = model.inputs[0]
    model.reshape({port: ov.PartialShape([batch or -1, *list(port.get_partial_shape())[1:]])})
    return model


def main() -> None:
    core = ov.Core()
    for batch in (1, 2, 4, 8):
        dynamic = images_per_second(core, with_batch(core, None), batch)
        static = images_per_second(core, with_batch(core, batch), batch)
        print(f"batch {batch}: dynamic {dynamic:6.1f} images/s  static {static:6.1f} images/s")


if __name__ == "__main__":
    main()
