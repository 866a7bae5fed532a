"""Google Cloud Storage through google-cloud-storage, with OVMS's environment (spec §12).

Credentials: ``GOOGLE_APPLICATION_CREDENTIALS`` (a service-account file), else Google's default
credentials, else anonymous requests (public buckets). With ``STORAGE_EMULATOR_HOST`` set (an
emulator such as gcp-storage-emulator or fake-gcs-server) requests go there, anonymously unless
a credentials file is given.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # api_core warns at import when the optional grpcio-status is absent
    warnings.simplefilter("ignore", ImportWarning)
    import google.auth  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from google.api_core import exceptions as api  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from google.auth import exceptions as auth  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from google.cloud import storage  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from google.cloud.storage.retry import DEFAULT_RETRY  # type: ignore[import-untyped,import-not-found,unused-ignore]

from ovms_cli.repository.stores.base import ObjectInfo, Progress, atomic_download
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

LABEL = "GCS"
_RETRY = DEFAULT_RETRY.with_timeout(
    5
)  # the default retries a dead endpoint for 2 minutes; the watcher retries anyway
_TIMEOUT = (5, 60)  # connect, read
_FAILURES = (api.GoogleAPIError, auth.GoogleAuthError, OSError, ValueError)  # requests' errors are OSErrors


class GcsStore:
    label = LABEL

    def __init__(self, uri: RemoteUri) -> None:
        self.uri = uri
        self._client, self._described = _client(uri)

    def list(self, prefix: str) -> list[ObjectInfo]:
        try:
            blobs = self._client.list_blobs(self.uri.bucket, prefix=prefix, timeout=_TIMEOUT, retry=_RETRY)
            return [ObjectInfo(blob.name, int(blob.size or 0), _etag(blob)) for blob in blobs]
        except api.NotFound as error:
            raise BucketNotFound(LABEL, self.uri.child(prefix), f"no bucket {self.uri.bucket!r}") from error
        except _FAILURES as error:
            raise self._error(error, self.uri.child(prefix), ListFailed) from error

    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        blob = self._client.bucket(self.uri.bucket).blob(key)
        try:
            with atomic_download(dest, progress) as sink:
                blob.download_to_file(sink, timeout=_TIMEOUT, retry=_RETRY)
        except api.NotFound as error:
            raise PathNotFound(LABEL, self.uri.child(key)) from error
        except _FAILURES as error:
            raise self._error(error, self.uri.child(key), DownloadFailed) from error

    def _error(self, error: Exception, where: str, otherwise: type[StorageError]) -> StorageError:
        if isinstance(
            error, api.Forbidden | api.Unauthorized | auth.RefreshError | auth.DefaultCredentialsError
        ):
            if self._described == "anonymous access":
                detail = "anonymous access was refused: set GOOGLE_APPLICATION_CREDENTIALS"
            else:
                detail = f"the credentials from {self._described} were refused"
            return InvalidAccess(LABEL, where, f"{detail} ({first_line(error)})")
        return otherwise(LABEL, where, first_line(error))


def _client(uri: RemoteUri) -> tuple[Any, str]:
    """The storage client and which setting supplied its credentials (for messages)."""
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        if not Path(path).is_file():
            raise InvalidAccess(
                LABEL, uri.text, f"GOOGLE_APPLICATION_CREDENTIALS={path} is not a readable file"
            )
        described = f"GOOGLE_APPLICATION_CREDENTIALS={path}"
        try:
            credentials, project = google.auth.default()
        except (auth.DefaultCredentialsError, ValueError) as error:
            raise InvalidAccess(LABEL, uri.text, f"{described}: {first_line(error)}") from error
        return storage.Client(project=project or "<none>", credentials=credentials), described
    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        try:
            credentials, project = google.auth.default()
            return storage.Client(project=project or "<none>", credentials=credentials), "default credentials"
        except auth.DefaultCredentialsError:
            pass
    return storage.Client.create_anonymous_client(), "anonymous access"


def _etag(blob: Any) -> str:
    return str(blob.etag or blob.md5_hash or blob.generation or "")
