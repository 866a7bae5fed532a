"""Object-store failures, worded as OVMS's ``S3_*``, ``GCS_*`` and ``AS_*`` statuses (spec Appendix A).

Every message names the store, what failed, the URI, and then what to check::

    RepositoryError
    └── StorageError              "<label> metadata failure: <uri>"
        ├── BucketNotFound        "S3 Bucket not found", "GCS Bucket not found", "AS Container not found"
        ├── InvalidAccess         "<label> Invalid access rights"    (refused or missing credentials)
        ├── ListFailed            "<label> Failed to list objects"   (unreachable endpoint, server error)
        ├── PathNotFound          "<label> File or directory not found"
        ├── DownloadFailed        "<label> Failed to get object from path"
        └── MissingExtra          the optional SDK of the scheme is not installed
"""

from __future__ import annotations

from typing import ClassVar

from ovms_cli.repository.versions import RepositoryError

__all__ = [
    "BucketNotFound",
    "DownloadFailed",
    "InvalidAccess",
    "ListFailed",
    "MissingExtra",
    "PathNotFound",
    "StorageError",
    "first_line",
]


class StorageError(RepositoryError):
    text: ClassVar[str] = "metadata failure"

    def __init__(self, label: str, uri: str, detail: str = "") -> None:
        self.label = label
        self.uri = uri
        self.detail = detail
        suffix = f" - {detail}" if detail else ""
        super().__init__(f"{label} {self.text_for(label)}: {uri}{suffix}")

    @classmethod
    def text_for(cls, label: str) -> str:
        return cls.text


class BucketNotFound(StorageError):
    text = "Bucket not found"

    @classmethod
    def text_for(cls, label: str) -> str:
        return "Container not found" if label == "AS" else cls.text


class InvalidAccess(StorageError):
    text = "Invalid access rights"


class ListFailed(StorageError):
    text = "Failed to list objects"


class PathNotFound(StorageError):
    text = "File or directory not found"


class DownloadFailed(StorageError):
    text = "Failed to get object from path"


class MissingExtra(RepositoryError):
    def __init__(self, scheme: str, extra: str) -> None:
        super().__init__(f'{scheme}:// needs the {extra} extra: pip install "ovms[{extra}]"')


def first_line(error: Exception) -> str:
    """An SDK error in one line: some put a whole HTTP response in their text."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
