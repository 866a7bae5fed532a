"""TLS and mutual TLS on gRPC and REST, with a CA and certificates made here (``cryptography``)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from builders import affine_model, write_ir
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tritonclient.utils import InferenceServerException

if TYPE_CHECKING:
    from conftest import ServerProcess

DATA = np.ones((2, 4), np.float32)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: Pair
    client: Pair


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    folder: Path,
    stem: str,
    subject: str,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    extensions: list[x509.ExtensionType],
) -> tuple[Pair, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (_name(subject), key)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=isinstance(extension, x509.BasicConstraints))
    cert = builder.sign(issuer_key, hashes.SHA256())
    pair = Pair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pair, cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_cert, ca_key = _issue(
        folder, "ca", "test CA", None, [x509.BasicConstraints(ca=True, path_length=None)]
    )
    issuer = (ca_cert.subject, ca_key)
    names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
    )
    server, _, _ = _issue(
        folder,
        "server",
        "localhost",
        issuer,
        [names, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])],
    )
    client, _, _ = _issue(
        folder, "client", "test client", issuer, [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])]
    )
    return Pki(ca.cert, server, client)


def start(spawn: Callable[..., ServerProcess], model_root: Path, pki: Pki, mutual: bool) -> ServerProcess:
    model = write_ir(affine_model(), model_root / "affine", 1)
    args = ["--model_name", "affine", "--model_path", str(model)]
    args += ["--tls_cert", str(pki.server.cert), "--tls_key", str(pki.server.key)]
    if mutual:
        args += ["--tls_ca", str(pki.ca)]
    server = spawn(args, wait_ready=False)
    wait_ready(server, rest_context(pki, with_cert=mutual))
    return server


def rest_context(pki: Pki, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_cert:
        context.load_cert_chain(str(pki.client.cert), str(pki.client.key))
    return context


def wait_ready(server: ServerProcess, context: ssl.SSLContext, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log_text()
        try:
            if (
                httpx.get(f"https://{server.rest_url}/v2/health/ready", verify=context, timeout=2).status_code
                == 200
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"not ready over TLS:\n{server.log_text()}")


def rest_infer(server: ServerProcess, context: ssl.SSLContext) -> httpx.Response:
    body = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": DATA.ravel().tolist()}]}
    return httpx.post(
        f"https://{server.rest_url}/v2/models/affine/infer", json=body, verify=context, timeout=10
    )


def grpc_infer(server: ServerProcess, pki: Pki, with_cert: bool) -> np.ndarray:
    keys = (
        {"private_key": str(pki.client.key), "certificate_chain": str(pki.client.cert)} if with_cert else {}
    )
    client = grpcclient.InferenceServerClient(
        server.grpc_url, ssl=True, root_certificates=str(pki.ca), **keys
    )
    try:
        tensor = grpcclient.InferInput("input", list(DATA.shape), "FP32")
        tensor.set_data_from_numpy(DATA)
        return client.infer("affine", [tensor], client_timeout=10).as_numpy("scaled")
    finally:
        client.close()


def test_tls_on_both_transports(spawn_server: Callable[..., ServerProcess], tmp_path: Path, pki: Pki) -> None:
    server = start(spawn_server, tmp_path, pki, mutual=False)
    answer = rest_infer(server, rest_context(pki, with_cert=False))
    assert answer.status_code == 200, answer.text
    np.testing.assert_array_equal(grpc_infer(server, pki, with_cert=False), DATA * 2 + 1)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{server.rest_url}/v2/health/ready", timeout=5)  # plain HTTP is not served


def test_mutual_tls_requires_a_client_certificate(
    spawn_server: Callable[..., ServerProcess], tmp_path: Path, pki: Pki
) -> None:
    server = start(spawn_server, tmp_path, pki, mutual=True)
    assert rest_infer(server, rest_context(pki, with_cert=True)).status_code == 200
    np.testing.assert_array_equal(grpc_infer(server, pki, with_cert=True), DATA * 2 + 1)
    with pytest.raises(httpx.TransportError):
        rest_infer(server, rest_context(pki, with_cert=False))
    with pytest.raises(InferenceServerException) as refused:
        grpc_infer(server, pki, with_cert=False)
    assert refused.value.status() == "StatusCode.UNAVAILABLE"
