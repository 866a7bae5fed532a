"""``ovms pull-model``: copy a model repository (or some of its versions) out of an object store.

The local folder has the repository layout (``<dest>/<version>/...``), so ``ovms serve
--model_path <dest>`` serves it. Runs resume: files whose size and ETag match the last download
are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from ovms_cli.repository.mirror import Mirror, SyncListener
from ovms_cli.repository.remote import RemoteVersion, list_remote_versions
from ovms_cli.repository.stores import RemoteUri, open_store, parse_uri
from ovms_cli.repository.stores.errors import PathNotFound
from ovms_cli.repository.versions import RepositoryError

__all__ = ["pull_model", "select_versions"]


def pull_model(
    uri: str,
    dest: Path | None = None,
    *,
    version: int | None = None,
    all_versions: bool = False,
    progress: Callable[[int], AbstractContextManager[SyncListener | None]] = lambda _total: nullcontext(),
) -> Path:
    """Download and return the local repository folder. Raises RepositoryError.

    ``progress(total_bytes)`` gives the listener that follows every file (the CLI's progress bars).
    """
    location = parse_uri(uri)
    store = open_store(location)
    chosen = select_versions(list_remote_versions(store, location), location, version, all_versions)
    root = (dest if dest is not None else Path.cwd() / location.last_name).absolute()
    mirror = Mirror(root)
    with progress(sum(v.size for v in chosen)) as bars:
        for found in chosen:
            mirror.sync(store, str(found.number), found.files, bars)
    return root


def select_versions(
    versions: dict[int, RemoteVersion], uri: RemoteUri, version: int | None, all_versions: bool
) -> Sequence[RemoteVersion]:
    """The one asked for, every one, or by default the latest complete one."""
    if not versions:
        raise RepositoryError(f"No version found for model in path: {uri.text}")
    if all_versions:
        return list(versions.values())
    if version is not None:
        if version not in versions:
            label = {"s3": "S3", "gs": "GCS"}.get(uri.scheme, "AS")
            present = ", ".join(map(str, versions))
            raise PathNotFound(label, f"{uri.text.rstrip('/')}/{version}", f"versions present: {present}")
        return [versions[version]]
    complete = [found for found in versions.values() if found.complete]
    if not complete:
        raise RepositoryError(f"No version of {uri.text} holds a complete model (versions: {list(versions)})")
    return [complete[-1]]
