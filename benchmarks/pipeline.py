"""A DAG pipeline served by ``ovms serve`` vs the same two models chained in-process (issue 13).

    python benchmarks/pipeline.py [--backbone mobilenet_v2|overhead_probe] [--seconds 5] [--rounds 3]
        [--out benchmarks/results/<date>-pipeline.md]

MobileNet-V2 (random weights, ``models.py``) → a small classifier (FP32 ``features[-1, 1000]`` →
``scores[-1, 10]``, a dense layer and softmax), served as one pipeline. At concurrency 1 and 8
(closed-loop client threads, one image per request) it measures, in the same run and interleaved
by round:

* ``pipeline``: one tritonclient gRPC request per image to the pipeline;
* ``two requests``: the client calls MobileNet-V2, then the classifier with its output (gRPC);
* ``backbone request``: one gRPC request to MobileNet-V2 alone (the pipeline minus its second node);
* ``in-process``: each thread runs its own infer requests of the two compiled models, the output of
  one fed to the other; compiled once with ``PERFORMANCE_HINT: THROUGHPUT`` (the server's default)
  and once with ``LATENCY`` (what the server's latency lane uses for a request alone), and the
  faster of the two is the reference (as ``ovms bench --inprocess`` does).

Prints requests/s (median of the rounds), the ratio pipeline / in-process (issue goal: ≥ 0.9 at
concurrency 8), pipeline / two requests (goal: > 1), and the per-node overhead in µs: the extra
mean latency of a pipeline request over the faster in-process chain at concurrency 1, over its 2
nodes (it includes the client's gRPC round trip).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import tritonclient.grpc as grpcclient
from models import CLASSES, Weights, write_model
from run import OUT, serving_with

CONCURRENCY = (1, 8)
BACKBONE = "backbone"
FEATURES = "features"
SCORES = "scores"
CLASSIFIER_CLASSES = 10
RESULTS = Path(__file__).resolve().parent / "results"

Call = Callable[[np.ndarray], object]


def classifier_model(seed: int = 1) -> ov.Model:
    """``scores = softmax(features @ W + b)`` on ``features: FP32[-1, 1000]`` → ``scores[-1, 10]``."""
    w = Weights(seed)
    x = ops.parameter([-1, CLASSES], ov.Type.f32, name=FEATURES)
    logits = ops.add(
        ops.matmul(x, w.he((CLASSES, CLASSIFIER_CLASSES), CLASSES), False, False),
        w.small((CLASSIFIER_CLASSES,)),
    )
    scores = ops.softmax(logits, 1)
    scores.output(0).get_tensor().set_names({SCORES})
    return ov.Model([scores], [x], "classifier")


def write_repository(root: Path, backbone: str) -> Path:
    """``backbone`` (a ``models.py`` name) as model ``backbone``, the classifier, and the pipeline."""
    write_model(backbone, root / BACKBONE)
    xml = root / "classifier" / "1" / "model.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(classifier_model(), str(xml), compress_to_fp16=True)
    pipeline = {
        "name": "classify",
        "inputs": ["image"],
        "nodes": [
            {
                "name": "backbone",
                "type": "DL model",
                "model_name": BACKBONE,
                "inputs": [{"input": {"node_name": "request", "data_item": "image"}}],
                "outputs": [{"data_item": "probabilities", "alias": "features"}],
            },
            {
                "name": "head",
                "type": "DL model",
                "model_name": "classifier",
                "inputs": [{FEATURES: {"node_name": "backbone", "data_item": "features"}}],
                "outputs": [{"data_item": SCORES, "alias": SCORES}],
            },
        ],
        "outputs": [{SCORES: {"node_name": "head", "data_item": SCORES}}],
    }
    config = {
        "model_config_list": [
            {"config": {"name": BACKBONE, "base_path": BACKBONE}},
            {"config": {"name": "classifier", "base_path": "classifier"}},
        ],
        "pipeline_config_list": [pipeline],
    }
    path = root / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _tensor(name: str, array: np.ndarray) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array)
    return tensor


def pipeline_call(client: grpcclient.InferenceServerClient) -> Call:
    def call(image: np.ndarray) -> object:
        return client.infer("classify", [_tensor("image", image)]).as_numpy(SCORES)

    return call


def two_requests_call(client: grpcclient.InferenceServerClient) -> Call:
    def call(image: np.ndarray) -> object:
        features = client.infer(BACKBONE, [_tensor("input", image)]).as_numpy("probabilities")
        return client.infer("classifier", [_tensor(FEATURES, features)]).as_numpy(SCORES)

    return call


def backbone_call(client: grpcclient.InferenceServerClient) -> Call:
    def call(image: np.ndarray) -> object:
        return client.infer(BACKBONE, [_tensor("input", image)]).as_numpy("probabilities")

    return call


def inprocess_call(backbone: ov.CompiledModel, head: ov.CompiledModel) -> Call:
    backbone_request, head_request = backbone.create_infer_request(), head.create_infer_request()

    def call(image: np.ndarray) -> object:
        features = backbone_request.infer({0: image})[0]
        return head_request.infer({0: features})[0]

    return call


def measure(
    make_call: Callable[[], Call], concurrency: int, seconds: float, image: np.ndarray
) -> tuple[float, float]:
    """(requests/s, mean latency in µs) of ``concurrency`` closed-loop threads for ``seconds``."""
    calls = [make_call() for _ in range(concurrency)]
    for call in calls:
        call(image)  # warm up each thread's connection / infer requests
    latencies: list[list[float]] = [[] for _ in calls]
    stop = threading.Event()

    def loop(index: int) -> None:
        call, mine = calls[index], latencies[index]
        while not stop.is_set():
            started = time.perf_counter()
            call(image)
            mine.append(time.perf_counter() - started)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done = [x for mine in latencies for x in mine]
    return len(done) / elapsed, statistics.fmean(done) * 1e6


def interleaved_us(calls: dict[str, Call], image: np.ndarray, repeats: int) -> dict[str, float]:
    """Median latency in µs of each call, one request of each in turn ``repeats`` times: the load
    of a shared machine drifts alike for all of them."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call(image)
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1e6 for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds; the median is reported")
    parser.add_argument(
        "--repeats", type=int, default=300, help="requests of each kind for the overhead figures"
    )
    parser.add_argument(
        "--backbone",
        default="mobilenet_v2",
        help="models.py model before the classifier; overhead_probe (almost no computation) shows "
        "the per-node overhead with less noise",
    )
    parser.add_argument("--out", type=Path, help="default: results/<date>-pipeline-<backbone>.md")
    args = parser.parse_args()
    args.out = args.out or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-pipeline-{args.backbone}.md"

    root = OUT / f"pipeline-{args.backbone}"
    config = write_repository(root, args.backbone)
    image = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    core = ov.Core()
    compiled = {
        hint: tuple(
            core.compile_model(str(root / name / "1" / "model.xml"), "CPU", {"PERFORMANCE_HINT": hint})
            for name in (BACKBONE, "classifier")
        )
        for hint in ("THROUGHPUT", "LATENCY")
    }
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with serving_with(["--config_path", str(config)], root / "ovms.log") as server:
        expected = inprocess_call(*compiled["THROUGHPUT"])(image)
        with grpcclient.InferenceServerClient(server.grpc_url) as check:
            np.testing.assert_allclose(pipeline_call(check)(image), expected, rtol=1e-4, atol=1e-6)

        def client() -> grpcclient.InferenceServerClient:
            return grpcclient.InferenceServerClient(server.grpc_url)

        cases: dict[str, Callable[[], Call]] = {
            "in-process THROUGHPUT": lambda: inprocess_call(*compiled["THROUGHPUT"]),
            "in-process LATENCY": lambda: inprocess_call(*compiled["LATENCY"]),
            "pipeline": lambda: pipeline_call(client()),
            "two requests": lambda: two_requests_call(client()),
            "backbone request": lambda: backbone_call(client()),
        }
        for round_index in range(args.rounds):
            for concurrency in CONCURRENCY:
                for name, make in cases.items():
                    figure = measure(make, concurrency, args.seconds, image)
                    results.setdefault((name, concurrency), []).append(figure)
                    print(
                        f"round {round_index + 1} c={concurrency} {name}: {figure[0]:.1f} req/s, {figure[1]:.0f} µs",
                        flush=True,
                    )
        with client() as one:
            single = {
                "in-process": inprocess_call(*compiled["LATENCY"]),
                "pipeline": pipeline_call(one),
                "backbone request": backbone_call(one),
                "two requests": two_requests_call(one),
            }
            latencies = interleaved_us(single, image, args.repeats)
    text = report(results, latencies, args)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


def report(
    results: dict[tuple[str, int], list[tuple[float, float]]],
    latencies: dict[str, float],
    args: argparse.Namespace,
) -> str:
    def median(name: str, concurrency: int, index: int) -> float:
        if name == "in-process":  # the faster compilation: highest throughput, lowest latency
            both = [median(f"in-process {hint}", concurrency, index) for hint in ("THROUGHPUT", "LATENCY")]
            return max(both) if index == 0 else min(both)
        return statistics.median(r[index] for r in results[(name, concurrency)])

    lines = [
        f"# Pipeline benchmark: {args.backbone} → classifier (issue 13)",
        "",
        f"`python benchmarks/pipeline.py --backbone {args.backbone} --seconds {args.seconds:g} "
        f"--rounds {args.rounds}`, "
        f"ovms on {sys.platform}, OpenVINO {ov.get_version()}, gRPC over loopback, one [1, 3, 224, 224] FP32 "
        "image per request, median of the rounds. The machine was shared with other jobs: compare the "
        "ratios (same run), not the absolute figures.",
        "",
        "| concurrency | in-process req/s (THROUGHPUT / LATENCY) | pipeline req/s | two requests req/s | pipeline / in-process "
        "| pipeline / two requests | mean latency in-process µs | mean latency pipeline µs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for concurrency in CONCURRENCY:
        inproc, pipe, two = (median(n, concurrency, 0) for n in ("in-process", "pipeline", "two requests"))
        lat_in, lat_pipe = median("in-process", concurrency, 1), median("pipeline", concurrency, 1)
        lines.append(
            f"| {concurrency} | {inproc:.1f} ({median('in-process THROUGHPUT', concurrency, 0):.1f} / "
            f"{median('in-process LATENCY', concurrency, 0):.1f}) | {pipe:.1f} | {two:.1f} | {pipe / inproc:.2f} | {pipe / two:.2f} "
            f"| {lat_in:.0f} | {lat_pipe:.0f} |"
        )
    pipe, alone, two = (latencies[k] for k in ("pipeline", "backbone request", "two requests"))
    lines += [
        "",
        f"Concurrency 1, one request of each kind in turn, {args.repeats} times (median latency, µs): "
        f"in-process chain (LATENCY) {latencies['in-process']:.0f}, pipeline {pipe:.0f}, "
        f"backbone model alone {alone:.0f}, two requests {two:.0f}.",
        "",
        f"- per-node overhead: {(pipe - latencies['in-process']) / 2:.0f} µs "
        "((pipeline - in-process chain) / 2 nodes; includes the client's gRPC round trip);",
        f"- what the second node adds inside the server: {pipe - alone:.0f} µs "
        "(pipeline - the backbone model alone; includes the classifier's inference);",
        f"- two separate requests cost {two / pipe:.2f} times a pipeline request.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
