"""Per-request cost of the ONNX demo's preprocessing: folded into the model vs done in numpy (µs).

    python benchmarks/preprocessing.py [--size 224] [--rounds 7] [--requests 200]

One 1x1-convolution model on NCHW FP32 [1,3,S,S], loaded by the server's own loader three ways:
- plain: FP32 NCHW in, nothing to do (the reference);
- in the model: the demo's options (layout NHWC:NCHW, mean, scale, color BGR:RGB, precision
  uint8:fp32), so a request is the client's uint8 NHWC image as is;
- numpy: the plain model fed by the same steps in numpy (swap, float, minus mean, divided by scale,
  transpose), which is what a server without these options makes the client (or itself) do.
The preprocessing cost is each one's time minus the plain model's, measured interleaved in one run
(median of the rounds' medians), so load on a shared machine hits all three alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.preprocessing import Preprocessing, parse_color_format, parse_precision
from ovms_cli.servables.model_loader import Runtime, load_model

MEAN = (123.675, 116.28, 103.53)
SCALE = (58.395, 57.12, 57.375)
LATENCY = {"PERFORMANCE_HINT": "LATENCY"}


def _conv_model(size: int) -> ov.Model:
    x = ops.parameter([1, 3, size, size], ov.Type.f32, name="data")
    weights = np.diag([1.0, 2.0, 3.0]).astype(np.float32).reshape(3, 3, 1, 1)
    y = ops.convolution(x, ops.constant(weights), [1, 1], [0, 0], [0, 0], [1, 1])
    y.output(0).get_tensor().set_names({"output"})
    return ov.Model([y], [x], "conv")


def _numpy_steps(nhwc: np.ndarray) -> np.ndarray:
    rgb = nhwc[..., ::-1].astype(np.float32)
    normalised = (rgb - np.float32(MEAN)) / np.float32(SCALE)
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))


def _timed(run: Callable[[], object], requests: int) -> float:
    """Median µs of one call over ``requests`` calls."""
    samples = []
    for _ in range(requests):
        start = time.perf_counter_ns()
        run()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    runtime = Runtime(ov.Core())
    with tempfile.TemporaryDirectory() as folder:
        ov.save_model(_conv_model(args.size), str(Path(folder) / "1" / "model.xml"))
        base = ModelConfig(name="conv", base_path=folder, plugin_config=LATENCY)
        plain = load_model(runtime, base, Path(folder) / "1").compiled.create_infer_request()
        demo = Preprocessing(
            mean=MEAN,
            scale=SCALE,
            color_format=parse_color_format("BGR:RGB"),
            precision=parse_precision("uint8:fp32"),
        )
        folded_config = ModelConfig(
            name="conv", base_path=folder, plugin_config=LATENCY, layout="NHWC:NCHW", preprocessing=demo
        )
        folded = load_model(runtime, folded_config, Path(folder) / "1").compiled.create_infer_request()

    image = np.random.default_rng(0).integers(0, 256, (1, args.size, args.size, 3), dtype=np.uint8)
    prepared = _numpy_steps(image)
    np.testing.assert_allclose(
        folded.infer({0: image})[0], plain.infer({0: prepared})[0], rtol=1e-5, atol=1e-4
    )

    cases: dict[str, Callable[[], object]] = {
        "plain model, FP32 NCHW in": lambda: plain.infer({0: prepared}),
        "preprocessing in the model": lambda: folded.infer({0: image}),
        "preprocessing in numpy": lambda: plain.infer({0: _numpy_steps(image)}),
        "numpy steps alone": lambda: _numpy_steps(image),
    }
    for run in cases.values():
        _timed(run, args.requests // 4)  # warm-up
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, run in cases.items():
            rounds[name].append(_timed(run, args.requests))
    median = {name: statistics.median(values) for name, values in rounds.items()}

    base_us = median["plain model, FP32 NCHW in"]
    print(f"input [1,{args.size},{args.size},3] uint8 ({image.nbytes} B; FP32 NCHW is {prepared.nbytes} B)")
    print(
        f"OpenVINO {ov.get_version()}, {args.rounds} rounds x {args.requests} requests, median µs per request"
    )
    for name, value in median.items():
        spread = f"{min(rounds[name]):.1f}-{max(rounds[name]):.1f}"
        print(f"  {name:28} {value:9.1f} µs  (rounds {spread})")
    in_model = median["preprocessing in the model"] - base_us
    in_numpy = median["preprocessing in numpy"] - base_us
    print(f"preprocessing cost: in the model {in_model:.1f} µs, in numpy {in_numpy:.1f} µs", end="")
    print(f" (numpy / model: {in_numpy / in_model:.1f}x)" if in_model > 0 else "")


if __name__ == "__main__":
    main()
