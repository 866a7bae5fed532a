"""Per-request cost of the ONNX demo's preprocessing: folded into the model vs done in numpy (µs).

    python benchmarks/preprocessing.py [--size 224] [--rounds 7] [--requests 200]

One 1x1-convolution model on NCHW FP32 [1,3,S,S], loaded by the server's own loader three ways:
- plain: FP32 NCHW in, nothing to do (the reference);
- in the model: the demo's options (layout NHWC:NCHW, mean, scale, color BGR:RGB, precision
  uint8:fp32), so a request is the client's uint8 NHWC image as is;
- numpy: the plain model fed by the same steps in numpy (swap, float, minus mean, divided by scale,
  transpose), which is what a server without these options makes the client (or itself) do.
The preprocessing cost is each one's time minus the plain model's, measured in one run with the
cases taking turns call by call (median of the rounds' medians), so load on a shared machine hits
them alike.
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
# one thread, as numpy has: the figures are CPU cost, and thread hand-offs on a shared machine
# would otherwise swamp a sub-millisecond difference
ONE_THREAD = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": "1"}


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


def _interleaved(cases: dict[str, Callable[[], object]], requests: int) -> dict[str, float]:
    """Median µs of one call of each case, the cases taking turns call by call."""
    samples: dict[str, list[int]] = {name: [] for name in cases}
    for _ in range(requests):
        for name, run in cases.items():
            start = time.perf_counter_ns()
            run()
            samples[name].append(time.perf_counter_ns() - start)
    return {name: statistics.median(values) / 1000 for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    runtime = Runtime(ov.Core())
    with tempfile.TemporaryDirectory() as folder:
        ov.save_model(_conv_model(args.size), str(Path(folder) / "1" / "model.xml"))
        base = ModelConfig(name="conv", base_path=folder, plugin_config=ONE_THREAD)
        plain = load_model(runtime, base, Path(folder) / "1").compiled.create_infer_request()
        demo = Preprocessing(
            mean=MEAN,
            scale=SCALE,
            color_format=parse_color_format("BGR:RGB"),
            precision=parse_precision("uint8:fp32"),
        )
        folded_config = ModelConfig(
            name="conv", base_path=folder, plugin_config=ONE_THREAD, layout="NHWC:NCHW", preprocessing=demo
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
    _interleaved(cases, args.requests // 4)  # warm-up
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, value in _interleaved(cases, args.requests).items():
            rounds[name].append(value)
    median = {name: statistics.median(values) for name, values in rounds.items()}

    print(f"input [1,{args.size},{args.size},3] uint8 ({image.nbytes} B; FP32 NCHW is {prepared.nbytes} B)")
    print(f"OpenVINO {ov.get_version()}, {args.rounds} rounds x {args.requests} requests, µs per request")
    print(f"  {'':28} {'median':>9} {'best round':>11}")
    for name, values in rounds.items():
        print(f"  {name:28} {median[name]:9.1f} {min(values):11.1f}")
    for label, pick in (("median", median), ("best round", {n: min(v) for n, v in rounds.items()})):
        base_us = pick["plain model, FP32 NCHW in"]
        in_model = pick["preprocessing in the model"] - base_us
        in_numpy = pick["preprocessing in numpy"] - base_us
        print(f"preprocessing cost ({label}): in the model {in_model:+.1f} µs, in numpy {in_numpy:+.1f} µs")


if __name__ == "__main__":
    main()
