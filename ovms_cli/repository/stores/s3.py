"""Amazon S3 and S3-compatible stores (MinIO, Ceph…) through boto3, with OVMS's environment (spec §12).

Credentials: ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), else the
``AWS_PROFILE`` profile, else anonymous requests (public buckets; instance roles are not probed).
``S3_ENDPOINT`` (or ``s3://host:port/bucket``) selects another endpoint with path-style
addressing; an endpoint without a scheme is reached over HTTPS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped,import-not-found,unused-ignore]
from botocore import UNSIGNED  # type: ignore[import-untyped,import-not-found,unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped,import-not-found,unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from ovms_cli.repository.stores.base import CHUNK, ObjectInfo, Progress, write_chunks
from ovms_cli.repository.stores.errors import (
    BucketNotFound,
    DownloadFailed,
    InvalidAccess,
    ListFailed,
    PathNotFound,
    StorageError,
)
from ovms_cli.repository.stores.uri import RemoteUri

LABEL = "S3"
_DENIED = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
}


@dataclass(frozen=True, slots=True)
class _Credentials:
    session: Any  # boto3.session.Session
    signed: bool
    described: str  # which setting supplied them, for messages


class S3Store:
    label = LABEL

    def __init__(self, uri: RemoteUri) -> None:
        self.uri = uri
        self._credentials = _credentials(uri)
        endpoint = _endpoint(uri)
        config = _config(self._credentials, path_style=bool(endpoint))
        self._client = self._credentials.session.client("s3", config=config, **endpoint)

    def list(self, prefix: str) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.uri.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    found.append(ObjectInfo(item["Key"], int(item["Size"]), item["ETag"].strip('"')))
        except (BotoCoreError, ClientError) as error:
            raise self._error(error, self.uri.child(prefix), ListFailed) from error
        return found

    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        try:
            body = self._client.get_object(Bucket=self.uri.bucket, Key=key)["Body"]
            with body:
                write_chunks(body.iter_chunks(CHUNK), dest, progress)
        except (BotoCoreError, ClientError) as error:
            raise self._error(error, self.uri.child(key), DownloadFailed) from error

    def _error(self, error: Exception, where: str, otherwise: type[StorageError]) -> StorageError:
        if isinstance(error, NoCredentialsError | PartialCredentialsError):
            return InvalidAccess(LABEL, where, f"{self._credentials.described}: {error}")
        if not isinstance(error, ClientError):
            return otherwise(LABEL, where, str(error))
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code == "NoSuchBucket":
            return BucketNotFound(LABEL, where, f"no bucket {self.uri.bucket!r} at {self._where()}")
        if code in _DENIED or status in (401, 403):
            return InvalidAccess(LABEL, where, self._refused(code or str(status)))
        if code in ("NoSuchKey", "404") or status == 404:
            return PathNotFound(LABEL, where)
        return otherwise(LABEL, where, f"{code}: {error}")

    def _refused(self, code: str) -> str:
        if not self._credentials.signed:
            return (
                f"anonymous access was refused ({code}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE"
            )
        return f"the credentials from {self._credentials.described} were refused ({code})"

    def _where(self) -> str:
        return str(self._client.meta.endpoint_url)


def _credentials(uri: RemoteUri) -> _Credentials:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key or secret:
        if not (key and secret):
            missing = "AWS_SECRET_ACCESS_KEY" if key else "AWS_ACCESS_KEY_ID"
            raise InvalidAccess(LABEL, uri.text, f"{missing} is not set (the other half of the key pair is)")
        session = boto3.session.Session(
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
            region_name=region,
        )
        return _Credentials(session, True, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    profile = os.environ.get("AWS_PROFILE")
    if profile:
        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as error:
            raise InvalidAccess(LABEL, uri.text, f"AWS_PROFILE={profile}: {error}") from error
        return _Credentials(session, True, f"AWS_PROFILE={profile}")
    return _Credentials(boto3.session.Session(region_name=region), False, "anonymous access")


def _config(credentials: _Credentials, *, path_style: bool) -> Any:
    options: dict[str, Any] = {
        "s3": {"addressing_style": "path" if path_style else "auto"},
        "retries": {"max_attempts": 3, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 60,
    }
    if not credentials.signed:
        options["signature_version"] = UNSIGNED
    return Config(**options)


def _endpoint(uri: RemoteUri) -> dict[str, str]:
    endpoint = os.environ.get("S3_ENDPOINT") or uri.endpoint
    if not endpoint:
        return {}
    if "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    return {"endpoint_url": endpoint}
