"""Azure Blob Storage through azure-storage-blob, with OVMS's environment (spec §12).

Credentials: ``AZURE_STORAGE_CONNECTION_STRING`` (an account key, a SAS, or only a
``BlobEndpoint`` for anonymous access; Azurite's development string works). Without it,
``AZURE_STORAGE_ACCOUNT`` names the account of a public container, reached anonymously.
"""

from __future__ import annotations

import os
from pathlib import Path

from azure.core.exceptions import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContainerClient, LinearRetry  # type: ignore[import-untyped,import-not-found,unused-ignore]

from ovms_cli.repository.stores.base import ObjectInfo, Progress, write_chunks
from ovms_cli.repository.stores.errors import (
    BucketNotFound,
    DownloadFailed,
    InvalidAccess,
    ListFailed,
    PathNotFound,
    StorageError,
    first_line,
)
from ovms_cli.repository.stores.uri import RemoteUri

LABEL = "AS"
_DENIED = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "NoAuthenticationInformation",
    "InvalidAuthenticationInfo",
}


class AzureBlobStore:
    label = LABEL

    def __init__(self, uri: RemoteUri) -> None:
        self.uri = uri
        self._client, self._described = _container(uri)

    def list(self, prefix: str) -> list[ObjectInfo]:
        try:
            blobs = self._client.list_blobs(name_starts_with=prefix or None)
            return [ObjectInfo(blob.name, int(blob.size), str(blob.etag).strip('"')) for blob in blobs]
        except (AzureError, OSError) as error:
            raise self._error(error, self.uri.child(prefix), ListFailed) from error

    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        try:
            write_chunks(self._client.download_blob(key).chunks(), dest, progress)
        except (AzureError, OSError) as error:
            raise self._error(error, self.uri.child(key), DownloadFailed) from error

    def _error(self, error: Exception, where: str, otherwise: type[StorageError]) -> StorageError:
        raw_code = getattr(error, "error_code", None) or ""
        code = str(getattr(raw_code, "value", raw_code))  # a StorageErrorCode enum, or a plain string
        status = getattr(error, "status_code", None)
        if code == "ContainerNotFound":
            return BucketNotFound(LABEL, where, f"no container {self.uri.bucket!r} at {self._client.url}")
        if code == "BlobNotFound":
            return PathNotFound(LABEL, where)
        if isinstance(error, ClientAuthenticationError) or code in _DENIED or status in (401, 403):
            return InvalidAccess(LABEL, where, self._refused(code or str(status)))
        if isinstance(error, ResourceNotFoundError) and self._described == "anonymous access":
            # Azure answers 404 to anonymous requests on a private container
            return InvalidAccess(LABEL, where, self._refused(code or "ResourceNotFound"))
        if isinstance(error, HttpResponseError):
            return otherwise(LABEL, where, f"{code or status}: {first_line(error)}")
        return otherwise(LABEL, where, first_line(error))

    def _refused(self, code: str) -> str:
        if self._described == "anonymous access":
            return f"anonymous access was refused ({code}): set AZURE_STORAGE_CONNECTION_STRING"
        return f"the credentials from {self._described} were refused ({code})"


def _retry() -> LinearRetry:
    """Two retries a second apart: the SDK's default backs off 15 s and more; the watcher retries anyway."""
    return LinearRetry(backoff=1, retry_total=2, random_jitter_range=1)  # type: ignore[no-untyped-call,unused-ignore]  # untyped in azure-storage-blob 12.19


def _container(uri: RemoteUri) -> tuple[ContainerClient, str]:
    """The container client and which setting supplied its credentials (for messages)."""
    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection:
        try:
            client = ContainerClient.from_connection_string(
                connection, uri.bucket, retry_policy=_retry(), connection_timeout=5, read_timeout=60
            )
        except ValueError as error:
            raise InvalidAccess(LABEL, uri.text, f"AZURE_STORAGE_CONNECTION_STRING: {error}") from error
        keyed = client.credential is not None
        return client, "AZURE_STORAGE_CONNECTION_STRING" if keyed else "anonymous access"
    account = os.environ.get("AZURE_STORAGE_ACCOUNT")
    if account:
        url = f"https://{account}.blob.core.windows.net"
        return ContainerClient(
            url, uri.bucket, retry_policy=_retry(), connection_timeout=5, read_timeout=60
        ), "anonymous access"
    raise InvalidAccess(
        LABEL,
        uri.text,
        "AZURE_STORAGE_CONNECTION_STRING is not set (or AZURE_STORAGE_ACCOUNT for a public container)",
    )
