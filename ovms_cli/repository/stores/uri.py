"""Object-store URIs: ``s3://bucket/path``, ``s3://host:port/bucket/path``, ``gs://…``, ``az://container/path``."""

from __future__ import annotations

from dataclasses import dataclass

from ovms_cli.repository.versions import RepositoryError

_SCHEMES = {"s3": "s3", "gs": "gs", "az": "az", "azure": "az", "azfs": "azfs"}


@dataclass(frozen=True, slots=True)
class RemoteUri:
    text: str  # as the user wrote it, for messages
    scheme: str  # "s3", "gs", "az" or "azfs"
    bucket: str  # bucket, container or share
    prefix: str  # the path inside the bucket, without leading or trailing "/"; "" for the root
    endpoint: str | None = None  # from the s3://host:port/bucket form: plain HTTP to that host

    def child(self, key: str) -> str:
        """The URI of one key (or prefix) of this bucket, for messages."""
        return f"{self.scheme}://{self.bucket}/{key.rstrip('/')}"

    @property
    def last_name(self) -> str:
        """The last path segment (the bucket when the path is empty): a default local folder name."""
        return self.prefix.rsplit("/", 1)[-1] if self.prefix else self.bucket


def parse_uri(uri: str) -> RemoteUri:
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise RepositoryError(f"Not an object-store URI (s3://, gs://, az://): {uri}")
    parts = [part for part in rest.split("/") if part]
    endpoint = None
    if scheme.lower() == "s3" and parts and ":" in parts[0]:  # bucket names never hold ":"
        endpoint = f"http://{parts.pop(0)}"
    if not parts:
        raise RepositoryError(f"The URI names no bucket or container: {uri}")
    return RemoteUri(uri, _SCHEMES[scheme.lower()], parts[0], "/".join(parts[1:]), endpoint)
