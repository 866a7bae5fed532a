"""The container's HEALTHCHECK: exit 0 when the server in process PID (default 1) is ready, else 1.

The ports are the ones the server was started with, read from ``/proc/PID/cmdline``, so
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


def server_options(pid: str) -> dict[str, str]:
    """``--name value`` and ``--name=value`` pairs of process PID's command line."""
    words = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
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
    options = server_options(argv[1] if len(argv) > 1 else "1")
    rest_port = options.get("--rest_port", "0")
    if rest_port != "0":
        ready = rest_ready(_host(options, "--rest_bind_address"), rest_port)
    else:
        ready = grpc_ready(_host(options, "--grpc_bind_address"), options.get("--port", "9178"))
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
