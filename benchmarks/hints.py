"""In-process throughput of the benchmark models under OpenVINO's THROUGHPUT and LATENCY hints.

    python benchmarks/hints.py   (after benchmarks/run.py has built the models into benchmarks/out)

The evidence for the server's default hint: closed loops of 1, 4 and 16 requests in flight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov

from ovms_cli.bench.inprocess import _closed_loop
from ovms_cli.servables.model_loader import default_nireq

MODELS = Path(__file__).resolve().parent / "out" / "models"


def main() -> None:
    core = ov.Core()
    for folder in sorted(p for p in MODELS.iterdir() if p.is_dir()):
        model = core.read_model(str(next(folder.rglob("*.xml"))))
        for hint in ("THROUGHPUT", "LATENCY"):
            compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": hint})
            nireq = default_nireq(compiled)
            row = []
            for concurrency in (1, 4, 16):
                queue = ov.AsyncInferQueue(compiled, min(concurrency, nireq))
                for port in compiled.inputs:
                    shape = [1 if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
                    data = ov.Tensor(np.ones(shape, dtype=port.get_element_type().to_dtype()))
                    for request in queue:
                        request.set_tensor(port, data)
                measured = _closed_loop(queue, concurrency, 1.0, 4.0)
                row.append(f"c={concurrency}: {len(measured.latencies_us) / 4:6.1f}/s")
            print(f"{folder.name:13} {hint:10} nireq {nireq}  " + "  ".join(row))


if __name__ == "__main__":
    main()
