"""Object-store model repositories (s3://, gs://, az://): not available in this build yet."""

from __future__ import annotations

from ovms_cli.repository.source import ModelSource
from ovms_cli.repository.versions import RepositoryError


def open_remote(uri: str) -> ModelSource:
    raise RepositoryError(f"Remote model repositories are not supported yet: {uri}")
