"""TLS for both transports (beyond OVMS, which needs a proxy): a certificate and key, and with a
CA, mutual TLS where clients must present a certificate that CA signed."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc
from hypercorn.config import Config as HypercornConfig


class TlsError(ValueError):
    """The TLS options do not fit together or name missing files."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path | None = None  # given: clients must present a certificate it signed

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=None if self.ca is None else self.ca.read_bytes(),
            require_client_auth=self.ca is not None,
        )

    def configure(self, config: HypercornConfig) -> None:
        config.certfile = str(self.cert)
        config.keyfile = str(self.key)
        if self.ca is not None:
            config.ca_certs = str(self.ca)
            config.verify_mode = ssl.CERT_REQUIRED


def tls_files(cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
    """The TLS settings of ``--tls_cert``, ``--tls_key`` and ``--tls_ca``; None when not given."""
    if cert is None and key is None:
        if ca is not None:
            raise TlsError("tls_ca requires tls_cert and tls_key")
        return None
    if cert is None or key is None:
        raise TlsError("tls_cert and tls_key must be given together")
    for option, path in (("tls_cert", cert), ("tls_key", key), ("tls_ca", ca)):
        if path is not None and not path.is_file():
            raise TlsError(f"File path provided as an --{option} parameter does not exist: {path}")
    return TlsFiles(cert, key, ca)
