"""Object stores behind one small protocol; each cloud SDK is an optional extra, imported on demand."""

from __future__ import annotations

from ovms_cli.repository.stores.base import ObjectInfo, ObjectStore, Progress
from ovms_cli.repository.stores.errors import MissingExtra, StorageError
from ovms_cli.repository.stores.uri import RemoteUri, parse_uri
from ovms_cli.repository.versions import RepositoryError

__all__ = [
    "ObjectInfo",
    "ObjectStore",
    "Progress",
    "RemoteUri",
    "StorageError",
    "open_store",
    "parse_uri",
]


def open_store(uri: RemoteUri) -> ObjectStore:
    """A client for the URI's bucket. Raises RepositoryError (missing extra, unusable credentials)."""
    if uri.scheme == "s3":
        try:
            from ovms_cli.repository.stores.s3 import S3Store
        except ImportError as error:
            raise MissingExtra("s3", "s3") from error
        return S3Store(uri)
    if uri.scheme == "gs":
        try:
            from ovms_cli.repository.stores.gcs import GcsStore
        except ImportError as error:
            raise MissingExtra("gs", "gcs") from error
        return GcsStore(uri)
    if uri.scheme == "az":
        try:
            from ovms_cli.repository.stores.azure import AzureBlobStore
        except ImportError as error:
            raise MissingExtra("az", "azure") from error
        return AzureBlobStore(uri)
    raise RepositoryError(
        f"AS Invalid path: {uri.text} - Azure File Shares (azfs://) are not supported; serve from Blob storage (az://)"
    )
