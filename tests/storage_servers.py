"""Real object-store servers on loopback for the tests: moto (S3), gcp-storage-emulator (GCS), Azurite.

``running(kind, workdir)`` starts one as a subprocess on a free port and yields a ``StorageServer``
that uploads with the store's own SDK and tells which environment variables reach it. Azurite
comes from npm (``npm install -g azurite``, as ``.ci/run`` does); without it the Azure tests fail.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from server_process import free_port

KINDS = ("s3", "gcs", "azure")
STORE_VARIABLES = (
    "AWS_",
    "S3_ENDPOINT",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST",
    "AZURE_STORAGE_",
    "OVMS_CACHE",
)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WRONG_AZURE_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="


class StorageServer(Protocol):
    scheme: str  # "s3", "gs", "az"
    env: dict[str, str]  # reaches the server with valid credentials
    bad_env: dict[str, str]  # reaches the server with credentials it refuses (or cannot use)

    def create_bucket(self, bucket: str) -> None: ...

    def put(self, bucket: str, key: str, data: bytes) -> None: ...

    def delete(self, bucket: str, key: str) -> None: ...

    def stop(self) -> None:
        """Stop the server before its block ends (clients then fail to connect)."""
        ...


def uri(server: StorageServer, bucket: str, path: str) -> str:
    return f"{server.scheme}://{bucket}/{path}"


def upload_tree(server: StorageServer, local: Path, bucket: str, prefix: str) -> list[str]:
    """Every file under ``local`` as ``prefix/<relative path>``; returns the keys."""
    keys = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(local).as_posix()}"
        server.put(bucket, key, path.read_bytes())
        keys.append(key)
    return keys


def clean_environ(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """This process's environment without any store settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STORE_VARIABLES)}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never probe an instance-metadata address
    env["NO_GCE_CHECK"] = "true"
    return {**env, **extra}


def use_environment(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """Make this process's environment exactly ``env`` for one test."""
    for key in [key for key in os.environ if key not in env]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@contextmanager
def running(kind: str, workdir: Path) -> Iterator[StorageServer]:
    """A server of its own, stopped when the block ends."""
    starters = {"s3": _moto, "gcs": _gcs_emulator, "azure": _azurite}
    with starters[kind](workdir) as server:
        yield server


_SHARED = ExitStack()
atexit.register(_SHARED.close)
_shared: dict[str, StorageServer] = {}


def shared(kind: str) -> StorageServer:
    """One server of each kind for the whole test run (tests use buckets of their own).

    Started on first use and stopped when the test process exits, so that test modules in
    several folders share it without a conftest above them.
    """
    if kind not in _shared:
        workdir = Path(tempfile.mkdtemp(prefix=f"ovms-test-{kind}-"))
        _SHARED.callback(shutil.rmtree, workdir, ignore_errors=True)
        _shared[kind] = _SHARED.enter_context(running(kind, workdir))
    return _shared[kind]


class _Process:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def _process(command: list[str], port: int, workdir: Path, name: str) -> Iterator[_Process]:
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = _Process(subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir))
    try:
        _wait_listening(process.process, port, log)
        yield process
    finally:
        process.stop()


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited {process.returncode}:\n{log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args} not listening on {port} after {timeout}s:\n{log.read_text()}")


# --- S3: moto's standalone server, with IAM authentication switched on -------------------------


class MotoS3:
    scheme = "s3"

    def __init__(self, endpoint: str, stop: Callable[[], None]) -> None:
        import boto3

        self.stop = stop
        self.endpoint = endpoint
        admin = dict(
            aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap", region_name="us-east-1"
        )
        iam = boto3.client("iam", endpoint_url=endpoint, **admin)
        iam.create_user(UserName="ovms")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="ovms", PolicyName="all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="ovms")["AccessKey"]
        self.env = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_REGION": "us-east-1",
            "S3_ENDPOINT": endpoint,
        }
        self.bad_env = {
            **self.env,
            "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG0",
            "AWS_SECRET_ACCESS_KEY": "wrong",
        }
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # from now on every request is authenticated
            pass
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name="us-east-1",
        )

    def create_bucket(self, bucket: str) -> None:
        self.client.create_bucket(Bucket=bucket)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)


# moto's server rebuilds the signed URL from werkzeug's ``request.url``, whose query has "%2F"
# decoded to "/": every signed request with a "/" in a query value (ListObjectsV2's prefix) then
# fails its signature check. The launcher re-encodes query values before moto signs them again.
MOTO_LAUNCHER = """
import sys
from urllib.parse import quote, unquote
from moto.iam import access_control
from moto.server import main

original = access_control.IAMRequestBase.__init__

def __init__(self, *args, path, **kwargs):
    route, mark, query = path.partition("?")
    if mark:
        pairs = (pair.partition("=") for pair in query.split("&"))
        query = "&".join(quote(unquote(k), safe="-_.~") + eq + quote(unquote(v), safe="-_.~") for k, eq, v in pairs)
    original(self, *args, path=route + mark + query, **kwargs)

access_control.IAMRequestBase.__init__ = __init__
main(sys.argv[1:])
"""


@contextmanager
def _moto(workdir: Path) -> Iterator[StorageServer]:
    port = free_port()
    command = [sys.executable, "-c", MOTO_LAUNCHER, "-H", "127.0.0.1", "-p", str(port)]
    with _process(command, port, workdir, "moto") as process:
        yield MotoS3(f"http://127.0.0.1:{port}", process.stop)


# --- GCS: gcp-storage-emulator (no authentication: bad credentials are an unusable file) ------


class GcsEmulator:
    scheme = "gs"

    def __init__(self, endpoint: str, workdir: Path, stop: Callable[[], None]) -> None:
        self.stop = stop
        with warnings.catch_warnings():  # api_core warns when the optional grpcio-status is absent
            warnings.simplefilter("ignore", ImportWarning)
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

        self.env = {"STORAGE_EMULATOR_HOST": endpoint}
        self.bad_env = {**self.env, "GOOGLE_APPLICATION_CREDENTIALS": str(workdir / "missing-key.json")}
        self.client: Any = storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        )

    def create_bucket(self, bucket: str) -> None:
        self.client.create_bucket(bucket)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.bucket(bucket).blob(key).upload_from_string(data)

    def delete(self, bucket: str, key: str) -> None:
        self.client.bucket(bucket).blob(key).delete()


@contextmanager
def _gcs_emulator(workdir: Path) -> Iterator[StorageServer]:
    port = free_port()
    executable = shutil.which("gcp-storage-emulator") or "gcp-storage-emulator"
    command = [executable, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"]
    with _process(command, port, workdir, "gcp-storage-emulator") as process:
        yield GcsEmulator(f"http://127.0.0.1:{port}", workdir, process.stop)


# --- Azure Blob: Azurite from npm ----------------------------------------------------------------


def azure_connection_string(endpoint: str, key: str = AZURITE_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


class Azurite:
    scheme = "az"

    def __init__(self, endpoint: str, stop: Callable[[], None]) -> None:
        from azure.storage.blob import BlobServiceClient

        self.stop = stop
        connection = azure_connection_string(endpoint)
        self.env = {"AZURE_STORAGE_CONNECTION_STRING": connection}
        self.bad_env = {"AZURE_STORAGE_CONNECTION_STRING": azure_connection_string(endpoint, WRONG_AZURE_KEY)}
        self.client: Any = BlobServiceClient.from_connection_string(connection)

    def create_bucket(self, bucket: str) -> None:
        self.client.create_container(bucket)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.get_blob_client(bucket, key).upload_blob(data, overwrite=True)

    def delete(self, bucket: str, key: str) -> None:
        self.client.get_blob_client(bucket, key).delete_blob()


@contextmanager
def _azurite(workdir: Path) -> Iterator[StorageServer]:
    executable = shutil.which("azurite-blob")
    if executable is None:
        pytest.fail(
            "Azurite is not installed: `npm install -g azurite` (Node.js 18+; .ci/run does this) "
            "puts azurite-blob on PATH",
            pytrace=False,
        )
    port = free_port()
    data = workdir / "azurite"
    data.mkdir(exist_ok=True)
    command = [
        executable,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(data),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
    ]
    with _process(command, port, workdir, "azurite") as process:
        yield Azurite(f"http://127.0.0.1:{port}", process.stop)
