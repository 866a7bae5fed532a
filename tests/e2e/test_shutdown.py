"""Graceful shutdown of a real server: on SIGTERM readiness turns false, new requests get 503 /
UNAVAILABLE, admitted ones finish, the process exits 0; a second signal exits at once."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from builders import affine_model, write_ir
from tritonclient.utils import InferenceServerException

if TYPE_CHECKING:
    from conftest import ServerProcess

DATA = np.ones((4, 4), np.float32)
CLIENT_TIMEOUT_S = 15


@pytest.fixture
def server(spawn_server: Callable[..., ServerProcess], tmp_path: Path) -> ServerProcess:
    model = write_ir(affine_model(), tmp_path / "affine", 1)
    args = ["--model_name", "affine", "--model_path", str(model), "--log_level", "TRACE"]
    return spawn_server([*args, "--shutdown_timeout", "20"])


def wait_for(condition: Callable[[], bool], timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def infer_body() -> tuple[bytes, dict[str, str]]:
    header = (
        f'{{"inputs":[{{"name":"input","shape":{list(DATA.shape)},"datatype":"FP32",'
        f'"parameters":{{"binary_data_size":{DATA.nbytes}}}}}]}}'
    ).encode()
    return header + DATA.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


class HeldRequest:
    """A REST infer whose body stops half way until ``release``: in flight for as long as wanted."""

    def __init__(self, server: ServerProcess) -> None:
        self._release = threading.Event()
        self.status: int | None = None
        body, headers = infer_body()

        def chunks() -> Iterator[bytes]:
            yield body[:10]
            self._release.wait(CLIENT_TIMEOUT_S)
            yield body[10:]

        def send() -> None:
            url = f"http://{server.rest_url}/v2/models/affine/infer"
            try:
                answer = httpx.post(url, content=chunks(), headers=headers, timeout=CLIENT_TIMEOUT_S)
            except httpx.TransportError:
                return  # the server was killed under it
            self.status = answer.status_code

        self._thread = threading.Thread(target=send, daemon=True)
        self._thread.start()
        wait_for(lambda: "/v2/models/affine/infer: started" in server.log_text(), what="the held request")

    def release(self) -> int | None:
        self._release.set()
        self._thread.join(CLIENT_TIMEOUT_S)
        return self.status


def rest_status(server: ServerProcess, path: str) -> int:
    return httpx.get(f"http://{server.rest_url}{path}", timeout=CLIENT_TIMEOUT_S).status_code


def grpc_infer(client: grpcclient.InferenceServerClient) -> None:
    tensor = grpcclient.InferInput("input", list(DATA.shape), "FP32")
    tensor.set_data_from_numpy(DATA)
    client.infer("affine", [tensor], client_timeout=CLIENT_TIMEOUT_S)


def test_draining_refuses_new_requests_and_finishes_admitted_ones(server: ServerProcess) -> None:
    held = HeldRequest(server)
    client = grpcclient.InferenceServerClient(server.grpc_url)
    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: rest_status(server, "/v2/health/ready") == 503, what="readiness false")
    assert not client.is_server_ready()
    body, headers = infer_body()
    refused = httpx.post(f"http://{server.rest_url}/v2/models/affine/infer", content=body, headers=headers)
    assert refused.status_code == 503
    assert "shutting down" in refused.json()["error"]
    with pytest.raises(InferenceServerException) as raised:
        grpc_infer(client)
    assert raised.value.status() == "StatusCode.UNAVAILABLE"
    assert server.process.poll() is None  # still waiting for the held request
    assert held.release() == 200
    assert server.process.wait(timeout=20) == 0
    assert "Drained 1 in-flight requests" in server.log_text()
    client.close()


def test_a_second_signal_exits_at_once(server: ServerProcess) -> None:
    held = HeldRequest(server)
    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: rest_status(server, "/v2/health/ready") == 503, what="readiness false")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=5) == 1
    held.release()


def rest_client(server: ServerProcess, outcomes: Counter[str], started: threading.Event) -> None:
    body, headers = infer_body()
    url = f"http://{server.rest_url}/v2/models/affine/infer"
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
        while True:
            try:
                answer = client.post(url, content=body, headers=headers)
            except httpx.ConnectError:
                outcomes["refused"] += 1  # the listener is closed: no request was sent
                return
            except httpx.RemoteProtocolError as error:
                # An idle keep-alive connection closed as the next request went out: no answer began.
                assert "without sending a response" in str(error), error
                outcomes["closed idle"] += 1
                return
            if answer.status_code != 200:
                assert answer.status_code == 503, answer.text
                outcomes["503"] += 1
                return
            assert len(answer.content) > 0
            outcomes["ok"] += 1
            started.set()


def grpc_client(server: ServerProcess, outcomes: Counter[str], started: threading.Event) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    while True:
        try:
            grpc_infer(client)
        except InferenceServerException as error:
            assert error.status() == str(grpc.StatusCode.UNAVAILABLE), error
            outcomes["UNAVAILABLE"] += 1
            client.close()
            return
        outcomes["ok"] += 1
        started.set()


def test_sigterm_during_a_stream_of_requests(server: ServerProcess) -> None:
    outcomes: Counter[str] = Counter()
    started = [threading.Event() for _ in range(6)]
    clients = [
        threading.Thread(target=run, args=(server, outcomes, ready), daemon=True)
        for run, ready in zip([rest_client] * 3 + [grpc_client] * 3, started, strict=True)
    ]
    for client in clients:
        client.start()
    for ready in started:
        assert ready.wait(CLIENT_TIMEOUT_S)
    server.process.send_signal(signal.SIGTERM)
    for client in clients:
        client.join(CLIENT_TIMEOUT_S * 2)
        assert not client.is_alive(), "a client hangs"
    assert server.process.wait(timeout=20) == 0
    assert outcomes["ok"] >= 6
    assert sum(outcomes.values()) - outcomes["ok"] == 6, outcomes  # each client stopped once, cleanly
