"""``ovms serve --model_path <s3:// | gs:// | az://>`` end to end, against real servers on loopback.

moto's standalone server (S3, with IAM authentication on), gcp-storage-emulator (GCS) and Azurite
(Azure Blob) run as subprocesses; models are uploaded with each store's SDK and served by a real
``ovms serve`` process; tritonclient infers and the result is compared with OpenVINO in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from builders import affine_model, run_in_process, write_ir
from storage_servers import (
    KINDS,
    StorageServer,
    clean_environ,
    running,
    shared,
    upload_tree,
    uri,
    use_environment,
)

if TYPE_CHECKING:
    from conftest import ServerProcess

Spawn = Callable[..., "ServerProcess"]
CREDENTIAL = {
    "s3": "AWS_ACCESS_KEY_ID",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS",
    "az": "AZURE_STORAGE_CONNECTION_STRING",
}
WATCH_DEADLINE_S = 15


@pytest.fixture(scope="module", params=KINDS)
def store_server(request: pytest.FixtureRequest) -> StorageServer:
    """One server of each kind for the whole run (shared with tests/repository)."""
    return shared(request.param)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local model repository that the tests upload: the affine model as version 1."""
    return write_ir(affine_model(), tmp_path_factory.mktemp("original") / "affine", 1)


def upload(server: StorageServer, original: Path) -> str:
    """``original`` uploaded to a fresh bucket; returns its URI."""
    bucket = f"t{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    upload_tree(server, original, bucket, "models/affine")
    return uri(server, bucket, "models/affine")


def serve(
    spawn: Spawn, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], text: str, **kwargs: bool
) -> ServerProcess:
    use_environment(monkeypatch, clean_environ(env))  # the server process inherits this environment
    args = ["--model_name", "m", "--model_path", text, "--file_system_poll_wait_seconds", "1"]
    return spawn(args, **kwargs)


def infer_and_compare(server: ServerProcess, original: Path) -> None:
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    infer_input = grpcclient.InferInput("input", [2, 4], "FP32")
    infer_input.set_data_from_numpy(data)
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        result = client.infer("m", [infer_input])
    expected = run_in_process(original / "1", {"input": data})
    for name in ("scaled", "total"):
        np.testing.assert_allclose(result.as_numpy(name), expected[name])


def served_versions(server: ServerProcess) -> list[str]:
    with urllib.request.urlopen(f"http://{server.rest_url}/v2/models/m", timeout=5) as answer:
        return list(json.loads(answer.read())["versions"])


def test_serves_watches_and_pulls_a_model_from_the_store(
    store_server: StorageServer,
    original: Path,
    spawn_server: Spawn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    text = upload(store_server, original)
    server = serve(spawn_server, monkeypatch, store_server.env, text)
    assert served_versions(server) == ["1"]
    infer_and_compare(server, original)

    # A version uploaded later is served (the repository watcher polls every second).
    bucket, prefix = text.split("://", 1)[1].split("/", 1)
    for name in ("model.xml", "model.bin"):  # a watcher tick in between sees an incomplete version
        store_server.put(bucket, f"{prefix}/2/{name}", (original / "1" / name).read_bytes())
    deadline = time.monotonic() + WATCH_DEADLINE_S
    while "2" not in served_versions(server):
        assert time.monotonic() < deadline, (
            f"version 2 not served after {WATCH_DEADLINE_S}s:\n{server.log_text()}"
        )
        time.sleep(0.2)
    assert "Loading version 2 of model m failed" not in server.log_text()
    infer_and_compare(server, original)

    pulled = subprocess.run(
        [
            sys.executable,
            "-m",
            "ovms_cli",
            "pull-model",
            text,
            "--dest",
            str(tmp_path / "pulled"),
            "--all-versions",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stderr
    local = Path(pulled.stdout.strip())
    for version in ("1", "2"):
        for name in ("model.xml", "model.bin"):
            assert (local / version / name).read_bytes() == (original / "1" / name).read_bytes()


def test_wrong_credentials_are_named_and_nothing_is_served(
    store_server: StorageServer, original: Path, spawn_server: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = upload(store_server, original)
    server = serve(spawn_server, monkeypatch, store_server.bad_env, text, wait_ready=False)
    log = wait_for_log(server, f"Invalid access rights: {text}")
    assert CREDENTIAL[store_server.scheme] in log
    assert_not_served(server)


def test_a_missing_bucket_is_named_and_nothing_is_served(
    store_server: StorageServer, spawn_server: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = uri(store_server, "nobucket0", "models/affine")
    server = serve(spawn_server, monkeypatch, store_server.env, text, wait_ready=False)
    container = "Container" if store_server.scheme == "az" else "Bucket"
    wait_for_log(server, f"{container} not found: {text}")
    assert_not_served(server)


def wait_for_log(server: ServerProcess, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while text not in (log := server.log_text()):
        assert time.monotonic() < deadline, f"{text!r} not logged after {timeout}s:\n{log}"
        time.sleep(0.1)
    return log


def assert_not_served(server: ServerProcess) -> None:
    """Single-model mode may stop (non-zero) or stay up without the model; it never serves it."""
    deadline = time.monotonic() + 30
    while server.process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{server.rest_url}/v2/models/m/ready", timeout=2) as answer:
                raise AssertionError(f"model m answers ready ({answer.status}):\n{server.log_text()}")
        except urllib.error.HTTPError as refused:
            assert refused.code in (400, 404, 503), server.log_text()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # not listening yet
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.1)
    assert server.process.returncode != 0, server.log_text()


def test_a_listing_failure_leaves_the_served_model_in_place(
    store_server: StorageServer,
    original: Path,
    spawn_server: Spawn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Needs the repository watcher. A store of its own, stopped while the model is served."""
    kind = {"s3": "s3", "gs": "gcs", "az": "azure"}[store_server.scheme]
    with running(kind, tmp_path) as own:
        text = upload(own, original)
        server = serve(spawn_server, monkeypatch, own.env, text)
        own.stop()
        deadline = time.monotonic() + WATCH_DEADLINE_S
        while "Failed to list objects" not in server.log_text():
            assert time.monotonic() < deadline, f"no failed listing logged:\n{server.log_text()}"
            time.sleep(0.2)
        assert served_versions(server) == ["1"]
        infer_and_compare(server, original)
