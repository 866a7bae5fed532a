"""Start-up time of `ovms serve` on ResNet-50 with and without --cache_dir.

    python benchmarks/cache_startup.py [--runs 3]

Builds ResNet-50 (random weights) as IR, then measures the time from launching the server to
`/v2/health/ready` answering 200: without a cache, with an empty cache (it gets filled), and
with the filled cache. Prints the median of --runs starts for each case.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import openvino as ov

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models import resnet50
from server_process import free_port


def start_seconds(model_dir: Path, cache: Path | None) -> float:
    rest = free_port()
    command = [sys.executable, "-m", "ovms_cli", "serve", "--model_name", "resnet50", "--model_path"]
    command += [str(model_dir), "--port", str(free_port()), "--rest_port", str(rest), "--log_level", "ERROR"]
    if cache is not None:
        command += ["--cache_dir", str(cache)]
    begin = time.perf_counter()
    process = subprocess.Popen(command)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v2/health/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - begin
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=60)


def compile_seconds(xml: Path, cache: Path | None) -> float:
    """Just OpenVINO's read + compile, in process: the part of start-up the cache can shorten."""
    properties = {"PERFORMANCE_HINT": "THROUGHPUT"}
    if cache is not None:
        properties["CACHE_DIR"] = str(cache)
    begin = time.perf_counter()
    core = ov.Core()
    core.compile_model(core.read_model(str(xml)), "CPU", properties)
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "resnet50" / "1").mkdir(parents=True)
        ov.save_model(resnet50(), str(root / "resnet50" / "1" / "model.xml"))
        cold = [start_seconds(root / "resnet50", None) for _ in range(args.runs)]
        filling = start_seconds(root / "resnet50", root / "cache")
        warm = [start_seconds(root / "resnet50", root / "cache") for _ in range(args.runs)]
        xml = root / "resnet50" / "1" / "model.xml"
        compile_cold = statistics.median(compile_seconds(xml, None) for _ in range(args.runs))
        compile_warm = statistics.median(compile_seconds(xml, root / "cache") for _ in range(args.runs))
    print(
        f"no cache:          median {statistics.median(cold):.2f} s  ({', '.join(f'{t:.2f}' for t in cold)})"
    )
    print(f"cache being filled:        {filling:.2f} s")
    print(
        f"warm cache:        median {statistics.median(warm):.2f} s  ({', '.join(f'{t:.2f}' for t in warm)})"
    )
    print(f"ratio warm / no cache: {statistics.median(warm) / statistics.median(cold):.2f}")
    print(
        f"in-process read+compile: no cache {compile_cold * 1000:.0f} ms, warm cache {compile_warm * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
