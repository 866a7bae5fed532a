"""The container's HEALTHCHECK: exit 0 when the ovms server under process ROOT (default 1) is ready.

The server is ROOT itself or the first of its descendants (lowest PID first, breadth-first) that
runs the ovms entrypoint, so an init as PID 1 (``docker run --init``: tini / docker-init) or a shell
wrapper in front of ``ovms`` does not hide it. Its ports are the ones it was started with, read from
its ``/proc/PID/cmdline``, so
``docker run IMAGE --model_name m --model_path /models/m --port 9000 --rest_port 8000`` needs
no other setting: with a REST port it asks ``GET /v2/health/ready`` (200 once the initial load is
done, spec §1.5), without one it asks the KServe gRPC ``ServerReady`` on ``--port`` (OVMS's
default 9178). Standard library and the image's own grpcio only: a slim image has no curl.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_SECONDS = 3.0
ANY_ADDRESS = {"0.0.0.0", "::", ""}
ENTRYPOINT = "ovms"  # the console script; run through its Python, the kernel shows "python .../ovms"
MODULE = ("-m", "ovms_cli")


def command_line(pid: int) -> list[str]:
    """Process PID's argv ([] when it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def is_ovms(argv: list[str]) -> bool:
    """Whether ARGV runs the ovms entrypoint: ``ovms ...``, ``python .../ovms ...``, ``python -m ovms_cli``."""
    if not argv:
        return False
    if Path(argv[0]).name == ENTRYPOINT:
        return True
    return Path(argv[0]).name.startswith("python") and (
        (len(argv) > 1 and Path(argv[1]).name == ENTRYPOINT) or tuple(argv[1:3]) == MODULE
    )


def children() -> dict[int, list[int]]:
    """Each visible process's children, by ``/proc/PID/stat``'s parent PID, in PID order."""
    tree: dict[int, list[int]] = {}
    for entry in sorted((p for p in Path("/proc").iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])  # after "(comm)": state, ppid
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def find_server(root: int) -> int | None:
    """ROOT, or its first descendant breadth-first, that runs ovms; None when there is none."""
    tree = children()
    queue = [root]
    while queue:
        pid = queue.pop(0)
        if is_ovms(command_line(pid)):
            return pid
        queue += tree.get(pid, [])
    return None


def server_options(pid: int) -> dict[str, str]:
    """``--name value`` and ``--name=value`` pairs of process PID's command line."""
    words = command_line(pid)
    options: dict[str, str] = {}
    for index, word in enumerate(words):
        if not word.startswith("--"):
            continue
        name, equals, value = word.partition("=")
        if not equals and index + 1 < len(words):
            value = words[index + 1]
        options[name] = value
    return options


def _host(options: dict[str, str], bind_option: str) -> str:
    address = options.get(bind_option, "")
    return "127.0.0.1" if address in ANY_ADDRESS else address


def rest_ready(host: str, port: str) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://{host}:{port}/v2/health/ready", timeout=TIMEOUT_SECONDS
        ) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def grpc_ready(host: str, port: str) -> bool:
    import grpc

    from ovms_cli._proto import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(channel)
        try:
            answer = stub.ServerReady(grpc_predict_v2_pb2.ServerReadyRequest(), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError:
            return False
        return bool(answer.ready)


def main(argv: list[str]) -> int:
    pid = find_server(int(argv[1]) if len(argv) > 1 else 1)
    if pid is None:
        print("no ovms process found", file=sys.stderr)
        return 1
    options = server_options(pid)
    rest_port = options.get("--rest_port", "0")
    if rest_port != "0":
        ready = rest_ready(_host(options, "--rest_bind_address"), rest_port)
    else:
        ready = grpc_ready(_host(options, "--grpc_bind_address"), options.get("--port", "9178"))
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
