"""Server CPU per request on the transport probe, split by thread, with C clients (h2load, wrk).

    apt-get install nghttp2-client wrk          # h2load and wrk: the clients, so they cost little CPU
    python benchmarks/thread_cost.py --tree before=/tmp/ovms-main --tree after=. [--repeats 2]

``--tree kserve=kserve:/venv/bin/python`` measures KServe's Python server instead
(``benchmarks/kserve_peer.py``, installed in a venv of its own). Each other ``--tree LABEL=PATH`` is a checkout of this repository whose ``ovms_cli`` the server runs
(``PYTHONPATH``), so two versions are measured in one run, alternating, on the same machine. For
every tree, protocol and repetition: start ``ovms serve`` on ``overhead_probe`` (600 KB FP32 in, 4 KB
out, almost no compute; ``benchmarks/models.py``), warm up, read ``/proc/PID/task/*/stat``, run the
client for ``--duration`` seconds, read it again. The CPU time of each thread group is divided by the
requests answered:
- gRPC: ``h2load`` posting a prebuilt ``ModelInferRequest`` (raw_input_contents) over 8 connections;
  an answer counts when its status is 200 and it carries the 4 KB output (``traffic`` data);
- ``tritonclient``: tritonclient's gRPC client (C-core: it honours the server's HTTP/2 settings,
  where h2load may not), one closed-loop thread per connection in a process of its own;
- REST: ``wrk`` posting a prebuilt KServe binary-extension body (``Inference-Header-Content-Length``)
  over 8 connections; non-2xx answers are counted and reported.
Thread groups: ``event loop`` (the main thread: uvloop, grpc.aio's Cython layer, Hypercorn,
Starlette and every handler), ``gRPC`` (grpc core's threads), ``OpenVINO`` (the inference threads)
and ``other``. Prints a Markdown table and writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from models import write_model  # noqa: E402

from ovms_cli._proto import grpc_predict_v2_pb2 as pb  # noqa: E402

OUT = HERE / "out"
PEER = "kserve:"  # --tree kserve=kserve:/path/to/venv/bin/python: benchmarks/kserve_peer.py
SHAPE = (1, 3, 224, 224)
HZ = os.sysconf("SC_CLK_TCK")
GRPC_PATH = "/inference.GRPCInferenceService/ModelInfer"
GRPC_THREADS = frozenset(
    {"event_engine", "lifeguard", "grpc_global_tim", "default-executo", "resolver-execut"}
)
OUTPUT_BYTES = 4000  # probabilities: 1000 FP32
WRK_SCRIPT = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "{header_length}"
done = function(summary, latency, requests)
  io.write(string.format("WRK_JSON {{\\"requests\\": %d, \\"non2xx\\": %d, \\"errors\\": %d, \\"p50_us\\": %d}}\\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, latency:percentile(50)))
end
"""


def grpc_body(directory: Path) -> Path:
    """One gRPC message (5-byte prefix, then the serialized ModelInferRequest), for ``h2load -d``."""
    data = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    request = pb.ModelInferRequest(
        model_name="m",
        inputs=[pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=SHAPE)],
        raw_input_contents=[data.tobytes()],
    )
    message = request.SerializeToString()
    path = directory / "grpc.body"
    path.write_bytes(b"\0" + len(message).to_bytes(4, "big") + message)
    return path


def rest_script(directory: Path) -> Path:
    data = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(SHAPE),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": data.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    ).encode()
    body = directory / "rest.body"
    body.write_bytes(header + data.tobytes())
    script = directory / "post.lua"
    script.write_text(WRK_SCRIPT.format(body=body, header_length=len(header)))
    return script


@contextmanager
def serving(tree: Path, model: Path, log: Path, options: list[str]) -> Iterator[tuple[int, int, int]]:
    """``ovms serve`` from ``tree``: (pid, gRPC port, REST port).

    ``python -m`` puts the working directory first on ``sys.path``, before ``PYTHONPATH`` and the
    installed package: the server runs in ``tree`` so that it runs ``tree``'s code.
    """
    grpc_port, rest_port = 9610, 8610
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "ovms_cli", "serve", "--model_name", "m", "--model_path", str(model)]
    argv += ["--port", str(grpc_port), "--rest_port", str(rest_port), "--log_level", "ERROR", *options]
    if str(tree).startswith(PEER):  # KServe's Python server, run by the Python of its own venv
        argv = [str(tree)[len(PEER) :], str(HERE / "kserve_peer.py"), "--model_path", str(model)]
        argv += ["--http_port", str(rest_port), "--grpc_port", str(grpc_port)]
        tree = HERE
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, env=environment, cwd=tree, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(process, rest_port)
        if tree != HERE:
            _check_runs(process.pid, tree)
        yield process.pid, grpc_port, rest_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # KServe's server has been seen to ignore SIGTERM
            os.killpg(process.pid, signal.SIGKILL)  # with any process it started
            process.wait()


def _check_runs(pid: int, tree: Path) -> None:
    if Path(f"/proc/{pid}/cwd").resolve() != tree.resolve():
        raise RuntimeError(f"the server does not run in {tree}")


def _wait_ready(process: subprocess.Popen[bytes], rest_port: int) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        done = subprocess.run(
            ["curl", "-sf", f"localhost:{rest_port}/v2/health/ready"], capture_output=True, check=False
        )
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("the server did not get ready")


def server_pids(pid: int) -> list[int]:
    """The server's process, or with ``--workers`` its supervisor and then the workers."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


def thread_ticks(pid: int) -> dict[tuple[int, int], tuple[str, int]]:
    """CPU ticks (user + system) and name of every thread of the server's processes, by (pid, tid)."""
    ticks = {}
    for process in server_pids(pid):
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks[(process, int(task.name))] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def memory_mb(pid: int) -> list[dict[str, float]]:
    """RSS and PSS (shared pages split among the processes mapping them) of each worker, in MB."""
    pids = server_pids(pid)
    found = []
    for process in pids[1:] or pids:
        rollup = Path(f"/proc/{process}/smaps_rollup").read_text().splitlines()[1:]
        values = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in rollup}
        found.append({"rss": round(values["Rss"], 1), "pss": round(values["Pss"], 1)})
    return found


def group(pid: int, tid: int, name: str) -> str:
    if tid == pid:
        return "event loop"
    if name in GRPC_THREADS:
        return "gRPC"
    if name == "python":
        return "OpenVINO"  # TBB's workers (and Python's threads) keep the process name
    return "other"


def cost(
    before: dict[tuple[int, int], tuple[str, int]],
    after: dict[tuple[int, int], tuple[str, int]],
    requests: int,
) -> dict[str, float]:
    """µs of CPU per request by thread group, summed over the server's processes."""
    per_group: dict[str, float] = {}
    for (process, tid), (name, ticks) in after.items():
        spent = ticks - before.get((process, tid), (name, 0))[1]
        key = group(process, tid, name)
        per_group[key] = per_group.get(key, 0.0) + spent
    result = {key: spent / HZ / max(requests, 1) * 1e6 for key, spent in per_group.items()}
    result["total"] = sum(result.values())
    return result


def run_h2load(port: int, body: Path, seconds: float, connections: int) -> dict[str, float]:
    argv = ["h2load", "-c", str(connections), "-m", "1", "-D", str(round(seconds)), "-d", str(body)]
    argv += [
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        f"http://127.0.0.1:{port}{GRPC_PATH}",
    ]
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", text).group(2))  # type: ignore[union-attr]
    data = int(
        re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers .*?, .*?\((\d+)\) data", text).group(3)
    )  # type: ignore[union-attr]
    ok = min(done, data // (OUTPUT_BYTES + 5))  # each answer: a 5-byte gRPC prefix, the message (≥ 4 KB)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", text)
    return {
        "requests": done,
        "verified": ok,
        "rate": done / seconds,
        "mean_latency": mean.group(1) if mean else "",
    }  # type: ignore[dict-item]


TRITON_CLIENT = """
import sys, threading, time
import numpy as np
import tritonclient.grpc as triton
port, seconds, clients = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
data = np.random.default_rng(0).random({shape}, dtype=np.float32)
counts = [[0, 0] for _ in range(clients)]
def run(slot):
    client = triton.InferenceServerClient(f"127.0.0.1:{{port}}")
    tensor = triton.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        result = client.infer("m", [tensor])
        counts[slot][0] += 1
        counts[slot][1] += result.as_numpy(result.get_response().outputs[0].name).nbytes == {output}
threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(sum(c[0] for c in counts), sum(c[1] for c in counts))
"""


def run_tritonclient(port: int, seconds: float, clients: int) -> dict[str, float]:
    """tritonclient's gRPC client (grpc C-core, so it honours the server's HTTP/2 settings, which
    h2load may not), ``clients`` threads in a process of its own, each closed-loop."""
    script = TRITON_CLIENT.format(shape=SHAPE, output=OUTPUT_BYTES)
    argv = [sys.executable, "-c", script, str(port), str(seconds), str(clients)]
    done, ok = map(int, subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())
    return {"requests": done, "verified": ok, "rate": done / seconds, "mean_latency": ""}  # type: ignore[dict-item]


def run_wrk(port: int, script: Path, seconds: float, connections: int) -> dict[str, float]:
    argv = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{round(seconds)}s", "-s", str(script)]
    argv.append(f"http://127.0.0.1:{port}/v2/models/m/infer")
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    summary = json.loads(text.split("WRK_JSON ", 1)[1].splitlines()[0])
    ok = max(0, summary["requests"] - summary["non2xx"] - summary["errors"])
    return {
        "requests": summary["requests"],
        "verified": ok,
        "rate": summary["requests"] / seconds,
        "p50_us": summary["p50_us"],
    }


def measure(
    tree: Path, protocol: str, args: argparse.Namespace, files: dict[str, Path], options: list[str]
) -> dict[str, object]:
    model = write_model(args.model, OUT / "models" / args.model)
    log = OUT / "logs" / f"thread-cost-{protocol}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with serving(tree, model, log, options) as (pid, grpc_port, rest_port):
        if protocol == "grpc":
            load = lambda seconds: run_h2load(grpc_port, files["grpc"], seconds, args.concurrency)  # noqa: E731
        elif protocol == "tritonclient":
            load = lambda seconds: run_tritonclient(grpc_port, seconds, args.concurrency)  # noqa: E731
        else:
            load = lambda seconds: run_wrk(rest_port, files["rest"], seconds, args.concurrency)  # noqa: E731
        load(args.warmup)
        before = thread_ticks(pid)
        result = load(args.duration)
        after = thread_ticks(pid)
        memory = memory_mb(pid)
    cpu = cost(before, after, int(result["verified"]))
    return {**result, "cpu_us": cpu, "memory_mb": memory, "threads": sorted({n for n, _ in after.values()})}


def inprocess(args: argparse.Namespace) -> dict[str, object]:
    """The model and input run in this process (``ovms bench``'s reference): the best hint's req/s,
    and the LATENCY hint's p50."""
    from ovms_cli.bench.inprocess import run_inprocess
    from ovms_cli.bench.inputs import BenchInput

    model = write_model(args.model, OUT / "models" / args.model)
    data = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    result = run_inprocess(
        model,
        [BenchInput("input", "FP32", data)],
        concurrency=args.concurrency,
        warmup_s=args.warmup,
        duration_s=args.duration,
    )
    runs = {run.hint: run.measurement for run in result.runs}
    best = max(runs.values(), key=lambda m: m.throughput)
    latency = runs.get("LATENCY", best)
    return {"rate": best.throughput, "p50_us": float(np.median(latency.latencies_us))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="LABEL=PATH of a checkout")
    parser.add_argument("--protocols", default="grpc,rest")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--serve",
        action="append",
        default=[],
        help="LABEL=OPTIONS: measure each tree also with these ovms serve options, e.g. w2='--workers 2'",
    )
    parser.add_argument(
        "--model", default="overhead_probe", help="a benchmarks/models.py model with MobileNet's input"
    )
    parser.add_argument(
        "--inprocess", action="store_true", help="also run the model in process, the ratios' reference"
    )
    parser.add_argument("--json", type=Path, default=OUT / "thread_cost.json")
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    variants = {
        "": [],
        **{label: shlex.split(options) for label, options in (v.split("=", 1) for v in args.serve)},
    }
    with tempfile.TemporaryDirectory() as scratch:
        files = {"grpc": grpc_body(Path(scratch)), "rest": rest_script(Path(scratch))}
        runs: list[dict[str, object]] = []
        for repeat in range(args.repeats):
            for protocol in args.protocols.split(","):
                for label, path in trees.items():
                    for variant, options in variants.items():
                        where = Path(path) if path.startswith(PEER) else Path(path).resolve()
                        try:
                            row = measure(where, protocol, args, files, options)
                        except RuntimeError as error:  # e.g. an option the older tree does not have
                            print(f"{label} {variant}: skipped, {error}", flush=True)
                            continue
                        runs.append(
                            {
                                "tree": f"{label} {variant}".strip(),
                                "protocol": protocol,
                                "repeat": repeat,
                                **row,
                            }
                        )
                        print(json.dumps(runs[-1]), flush=True)
            if args.inprocess:
                runs.append({"tree": "in-process", "protocol": "-", "repeat": repeat, **inprocess(args)})
                print(json.dumps(runs[-1]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(runs, indent=1))
    print(table(runs))


def table(runs: list[dict[str, Any]]) -> str:
    groups = ["event loop", "gRPC", "OpenVINO", "other", "total"]
    lines = [
        "| protocol | server | req/s | latency | "
        + " | ".join(f"{g} µs/req" for g in groups)
        + " | PSS MB per worker | runs |",
        "|---|---|---:|---:|" + "---:|" * len(groups) + "---|---:|",
    ]
    keys: list[tuple[str, str]] = []
    for run in runs:
        if (run["protocol"], run["tree"]) not in keys:
            keys.append((run["protocol"], run["tree"]))
    for protocol, tree in sorted(keys, key=lambda key: key[0]):
        mine = [r for r in runs if (r["protocol"], r["tree"]) == (protocol, tree)]
        rate = statistics.median(float(r["rate"]) for r in mine)
        if "p50_us" in mine[0]:
            latency = f"p50 {statistics.median(float(r['p50_us']) for r in mine) / 1000:.2f} ms"
        else:
            latency = f"mean {mine[0].get('mean_latency', '')}"
        cells = [statistics.median(r.get("cpu_us", {}).get(g, 0.0) for r in mine) for g in groups]
        memory = ", ".join(f"{m['pss']:.0f}" for m in mine[-1].get("memory_mb", []))
        lines.append(
            f"| {protocol} | {tree} | {rate:.0f} | {latency} | "
            + " | ".join(f"{c:.0f}" for c in cells)
            + f" | {memory} | {len(mine)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
