"""Generated tokens per second of ``/v3/completions`` streams against OpenVINO GenAI in-process.

    python benchmarks/genai.py [--streams 1 8 32] [--tokens 128] [--rounds 2] [--out FILE]

Builds a random-weight llama of about 26 M parameters (``tiny_models.DecoderShape`` below; no
download) and, for each stream count, alternates two runs on the same folder and settings
(``SchedulerConfig``: cache_size 1 GB, max_num_seqs 64, max_num_batched_tokens 256,
dynamic split-fuse), ``--rounds`` times each:

- in-process: ``ContinuousBatchingPipeline.add_request`` for every stream, then ``step()`` in a
  loop, reading each handle after every step (what a perfect server would do);
- server: ``ovms serve --source_model --task text_generation`` with the same settings, N
  concurrent SSE streams over raw asyncio HTTP/1.1 connections from this process (greedy,
  ignore_eos, the same prompts). The client is kept cheap because it shares the cores with the
  server (``_stream``); it still checks that every stream is complete and well-formed.

Reported per run: generated tokens/s over the whole run, time to first token (request sent or
added → first printable text: both sides time text, see ``in_process``) and inter-token latency p50/p99; the table keeps the best round of each and
the server/in-process ratios. ``--baseline-source DIR`` adds a second server started from another
source tree (``git archive main | tar -x -C DIR``) to the same alternating rounds, so two engines
are compared under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import openvino_genai as genai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from genai_models import greedy, scheduler
from server_process import free_port

from ovms_cli.servables.generative.detokenizer import IncrementalText, release
from ovms_cli.servables.generative.tiny_models import DecoderShape, build_text_generation

SHAPE = DecoderShape(layers=8, hidden=512, heads=8, kv_heads=4, ffn=1536, context=1024, vocab=512)
PROMPT = "Continuous batching schedules many requests at the same time. The quick brown fox"


@dataclass
class Run:
    tokens: int
    seconds: float
    ttft: list[float]
    gaps: list[float]
    cpu: dict[str, float]  # CPU seconds by part: "pipeline"; or "server", "engine", "client"

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds

    @property
    def cpu_per_token_ms(self) -> float:
        return sum(self.cpu.values()) / self.tokens * 1e3


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a server (``server``) and of its running children (``engine``)."""
    children = [
        int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()
    ]
    return {"server": _process_cpu(pid), "engine": sum(_process_cpu(c) for c in children)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def in_process(pipeline: genai.ContinuousBatchingPipeline, streams: int, tokens: int) -> Run:
    """The prompts are tokenized in the timed window, as the server must (it gets text, as GenAI's
    ``add_request(str)`` does). Times are those of printable text, as the client sees them: each step's new tokens go through
    the server's own incremental detokenizer (``detokenizer.release``: text that ends in half a UTF-8
    character, or a token that prints nothing, waits for the next step), so both sides time the same
    event. Counting raw tokens instead would credit the reference with text no server could send yet."""
    tokenizer = pipeline.get_tokenizer()
    config = greedy(tokens)
    cpu = time.process_time()
    start = time.perf_counter()
    handles = [
        pipeline.add_request(i, tokenizer.encode(f"{PROMPT} {i}", add_special_tokens=True).input_ids, config)
        for i in range(streams)
    ]
    texts = [IncrementalText(stream=True, skip_special_tokens=True) for _ in range(streams)]
    added = [start] * streams
    last: list[float | None] = [None] * streams
    ttft: list[float] = []
    gaps: list[float] = []
    generated = 0
    while pipeline.has_non_finished_requests():
        pipeline.step()
        steps: list[tuple[int, list[int]]] = []
        for i, handle in enumerate(handles):
            ids: list[int] = []
            while handle.can_read():
                for output in handle.read().values():
                    ids.extend(output.generated_ids)
            if ids:
                generated += len(ids)
                steps.append((i, ids))
        released = release(tokenizer, [(texts[i], ids, False) for i, ids in steps])
        now = time.perf_counter()
        for (i, _), text in zip(steps, released, strict=True):
            if not text:
                continue
            previous = last[i]
            if previous is None:
                ttft.append(now - added[i])
            else:
                gaps.append(now - previous)
            last[i] = now
    seconds = time.perf_counter() - start
    return Run(generated, seconds, ttft, gaps, {"pipeline": time.process_time() - cpu})


async def _stream(host: str, port: int, index: int, tokens: int) -> tuple[int, float, list[float]]:
    """One SSE stream over a raw asyncio HTTP/1.1 connection; (tokens, time to first token, gaps).

    The client shares the cores with the server, so it does as little as a client can: it splits the
    chunked body on ``\\n\\n`` and looks for an empty ``"text":""`` to tell a token's chunk from
    the others, JSON-parsing only the last three events (finish reason, usage, ``[DONE]``), which
    prove the stream complete and well-formed.
    """
    body = json.dumps(
        {
            "model": "bench",
            "prompt": f"{PROMPT} {index}",
            "max_tokens": tokens,
            "temperature": 0,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    head = (
        f"POST /v3/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, port)
    sent = time.perf_counter()
    writer.write(head + body)
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in status.lower(), status
    first: float | None = None
    previous = 0.0
    gaps: list[float] = []
    events: list[bytes] = []
    pending = b""
    while True:
        size = int(await reader.readline(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            break
        pending += chunk[:-2]
        *complete, pending = pending.split(b"\n\n")
        now = time.perf_counter()
        for event in complete:
            if b'"text":""' in event or b'"choices":[]' in event:
                continue
            if first is None:
                first = now
            else:
                gaps.append(now - previous)
            previous = now
        events += complete[-3:]
        del events[:-3]
    writer.close()
    assert pending == b"" and first is not None, (pending, first)
    finish, usage, done = events
    assert done == b"data: [DONE]", done
    assert json.loads(finish[6:])["choices"][0]["finish_reason"] == "length", finish
    used = int(json.loads(usage[6:])["usage"]["completion_tokens"])
    assert used == tokens, (used, tokens)
    return used, first - sent, gaps


async def served(port: int, streams: int, tokens: int, pid: int) -> Run:
    """``streams`` concurrent streams to the server ``pid`` (its CPU and its engine's are counted)."""
    before, client = _tree_cpu(pid), time.process_time()
    start = time.perf_counter()
    results = await asyncio.gather(*(_stream("127.0.0.1", port, i, tokens) for i in range(streams)))
    seconds = time.perf_counter() - start
    after = _tree_cpu(pid)
    cpu = {part: after[part] - before[part] for part in after} | {"client": time.process_time() - client}
    return Run(
        sum(r[0] for r in results), seconds, [r[1] for r in results], [g for r in results for g in r[2]], cpu
    )


def _start_server(
    folder: Path, source: Path | None = None, rest_server: str = "hypercorn"
) -> tuple[subprocess.Popen[bytes], int]:
    """``ovms serve`` on ``folder`` with ``--rest_server``; from the ``source`` tree (its ``ovms_cli``)
    when given."""
    rest = free_port()
    command = [
        sys.executable,
        "-m",
        "ovms_cli",
        "serve",
        "--source_model",
        str(folder),
        "--task",
        "text_generation",
    ]
    command += [
        "--model_name",
        "bench",
        "--cache_size",
        "1",
        "--max_num_seqs",
        "64",
        "--max_num_batched_tokens",
        "256",
    ]
    command += ["--port", str(free_port()), "--rest_port", str(rest), "--log_level", "WARNING"]
    command += ["--rest_server", rest_server]
    env = None if source is None else {**os.environ, "PYTHONPATH": str(source)}
    process = subprocess.Popen(command, env=env, cwd=source)  # python -m puts the cwd first on sys.path
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v2/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    return process, rest
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become ready")


def _ms(values: list[float], q: float) -> str:
    return f"{_percentile(values, q) * 1e3:.1f}"


def _row(streams: int, inproc: Run, server: Run, others: list[Run]) -> str:
    row = (
        f"| {streams} | {inproc.rate:.0f} | {server.rate:.0f} | {server.rate / inproc.rate:.2f} "
        f"| {_ms(inproc.ttft, 0.5)} | {_ms(server.ttft, 0.5)} | {_ms(inproc.ttft, 0.99)} | {_ms(server.ttft, 0.99)} "
        f"| {_ms(inproc.gaps, 0.5)} | {_ms(server.gaps, 0.5)} | {_ms(inproc.gaps, 0.99)} | {_ms(server.gaps, 0.99)} |"
    )
    for other in others:
        row += f" {other.rate:.0f} | {other.rate / inproc.rate:.2f} | {_ms(other.ttft, 0.5)} | {_ms(other.gaps, 0.5)} |"
    return row


def _best(runs: list[Run]) -> Run:
    return max(runs, key=lambda run: run.rate)


Server = tuple[str, subprocess.Popen[bytes], int]
"""(label, process, REST port)"""


def _paired_row(streams: int, runs: list[list[Run]]) -> str:
    """Each round's server/in-process tok/s ratio (the two ran back to back, so a slow spell of the
    machine hits both) and their median: steadier than the best-of table when other loads come and go."""
    inproc, *servers = runs
    cells = []
    for server in servers:
        ratios = sorted(s.rate / i.rate for s, i in zip(server, inproc, strict=True))
        cells += [" ".join(f"{r:.2f}" for r in ratios), f"{statistics.median(ratios):.2f}"]
    return f"| {streams} | " + " | ".join(cells) + " |"


def _ttft_probe(
    pipeline: genai.ContinuousBatchingPipeline,
    servers: list[tuple[subprocess.Popen[bytes], int]],
    probes: int,
) -> str:
    """Time to first token at one stream, ``probes`` times each, alternating: one sample per stream-count
    round is too few for a goal of milliseconds. Each probe is a 2-token request; the table gives the
    medians and p90s and the median's difference from in-process."""
    samples: list[list[float]] = [[] for _ in range(len(servers) + 1)]
    for _ in range(probes):
        samples[0] += in_process(pipeline, 1, 2).ttft
        for kept, (_, process, rest) in zip(samples[1:], servers, strict=True):
            kept += asyncio.run(served(rest, 1, 2, process.pid)).ttft
    inproc, *served_samples = samples
    rows = [f"| in-process | {_ms(inproc, 0.5)} | {_ms(inproc, 0.9)} | |"]
    for (name, _, _), values in zip(servers, served_samples, strict=True):
        difference = (statistics.median(values) - statistics.median(inproc)) * 1e3
        rows.append(f"| {name} | {_ms(values, 0.5)} | {_ms(values, 0.9)} | {difference:+.1f} |")
    return (
        f"\nTime to first token, one stream, {probes} alternating 2-token requests each:\n\n"
        "| | p50 ms | p90 ms | p50 minus in-process, ms |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _least_cpu(runs: list[Run]) -> Run:
    return min(runs, key=lambda run: run.cpu_per_token_ms)


def _cpu_row(streams: int, runs: list[Run]) -> str:
    """CPU ms per generated token, which the other loads on a shared machine disturb far less than
    tokens/s: in-process, then per server its total, the in-process/total ratio and its parts."""
    inproc, *servers = runs
    cells = [f"{inproc.cpu_per_token_ms:.2f}"]
    for run in servers:
        parts = " + ".join(f"{part} {seconds / run.tokens * 1e3:.2f}" for part, seconds in run.cpu.items())
        cells += [
            f"{run.cpu_per_token_ms:.2f}",
            f"{inproc.cpu_per_token_ms / run.cpu_per_token_ms:.2f}",
            parts,
        ]
    return f"| {streams} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ttft-probes", type=int, default=20, help="one-stream requests for the TTFT table")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--rest-servers",
        nargs="+",
        default=["hypercorn"],
        choices=["hypercorn", "uvicorn"],
        help="one server per --rest_server value, in the same alternating rounds (the first is the main column)",
    )
    parser.add_argument(
        "--baseline-source",
        type=Path,
        help="also serve from this source tree (e.g. `git archive main`), in the same alternating rounds",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "llm"
        parameters = build_text_generation(folder, SHAPE)
        size = sum(f.stat().st_size for f in folder.iterdir() if f.name.startswith("openvino_model"))
        print(
            f"model: {parameters / 1e6:.1f} M parameters, openvino_model.bin+xml {size / 1e6:.1f} MB",
            flush=True,
        )
        pipeline = genai.ContinuousBatchingPipeline(str(folder), scheduler(cache_size=1), "CPU")
        in_process(pipeline, 2, 8)  # warm-up
        servers: list[Server] = [
            (name, *_start_server(folder, rest_server=name)) for name in args.rest_servers
        ]
        if args.baseline_source is not None:
            servers.append(("baseline", *_start_server(folder, args.baseline_source.resolve())))
        try:
            for _, process, rest in servers:
                asyncio.run(served(rest, 2, 8, process.pid))  # warm-up
            rows: list[str] = []
            cpu_rows: list[str] = []
            paired_rows: list[str] = []
            for streams in args.streams:
                runs: list[list[Run]] = [[] for _ in range(len(servers) + 1)]
                for _ in range(args.rounds):
                    runs[0].append(in_process(pipeline, streams, args.tokens))
                    for kept, (_, process, rest) in zip(runs[1:], servers, strict=True):
                        kept.append(asyncio.run(served(rest, streams, args.tokens, process.pid)))
                    rates = ", ".join(f"{r[-1].rate:.0f}" for r in runs)
                    print(f"{streams} streams: tok/s in-process, server(s): {rates}", flush=True)
                best = [_best(r) for r in runs]
                rows.append(_row(streams, best[0], best[1], best[2:]))
                cpu_rows.append(_cpu_row(streams, [_least_cpu(r) for r in runs]))
                paired_rows.append(_paired_row(streams, runs))
            probe = _ttft_probe(pipeline, servers, args.ttft_probes) if args.ttft_probes else ""
        finally:
            for _, process, _ in servers:
                process.terminate()
                process.wait(timeout=60)
    names = [name for name, _, _ in servers]
    header = (
        f"Model: random-weight llama, {parameters / 1e6:.1f} M parameters ({SHAPE}); {args.tokens} generated tokens "
        f"per stream, greedy, ignore_eos; best of {args.rounds} alternating rounds; {platform.processor() or platform.machine()}, "
        f"openvino-genai {genai.__version__}; main column: {names[0]}.\n\n"
        "| streams | in-process tok/s | server tok/s | ratio | TTFT p50 in-proc ms | TTFT p50 server ms "
        "| TTFT p99 in-proc | TTFT p99 server | ITL p50 in-proc ms | ITL p50 server ms | ITL p99 in-proc | ITL p99 server |"
        + "".join(f" {n} tok/s | {n} ratio | {n} TTFT p50 | {n} ITL p50 |" for n in names[1:])
        + "\n|---|---|---|---|---|---|---|---|---|---|---|---|"
        + "---|---|---|---|" * (len(names) - 1)
        + "\n"
    )
    cpu_header = "\n| streams | CPU ms/token in-proc | " + " | ".join(
        f"{name} CPU ms/token | {name} CPU ratio | {name} parts (ms/token)" for name in names
    )
    cpu_header += " |\n|---|---|" + "---|---|---|" * len(names) + "\n"
    paired_header = "\n| streams | " + " | ".join(f"{name}/in-process per round | median" for name in names)
    paired_header += " |\n|---|" + "---|---|" * len(names) + "\n"
    table = (
        header
        + "\n".join(rows)
        + "\n"
        + cpu_header
        + "\n".join(cpu_rows)
        + "\n"
        + paired_header
        + "\n".join(paired_rows)
        + "\n"
        + probe
    )
    print(table)
    if args.out is not None:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
