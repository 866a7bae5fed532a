"""``ovms pull-model``'s progress: one rich bar for the whole download, one per file."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ovms_cli.repository.mirror import RemoteFile


class DownloadBars:
    """Rich progress: one bar for the whole download, one per file (SyncListener)."""

    def __init__(self, console: Console, total: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._total = self._progress.add_task("[bold]total", total=total)
        self._files: dict[str, TaskID] = {}

    def __enter__(self) -> DownloadBars:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def started(self, file: RemoteFile, cached: bool) -> None:
        description = f"{file.path} (up to date)" if cached else file.path
        task = self._progress.add_task(description, total=file.info.size)
        self._files[file.path] = task
        if cached:
            self._progress.update(task, completed=file.info.size)
            self._progress.advance(self._total, file.info.size)

    def advanced(self, file: RemoteFile, size: int) -> None:
        self._progress.advance(self._files[file.path], size)
        self._progress.advance(self._total, size)

    def finished(self, file: RemoteFile) -> None:
        self._progress.update(self._files[file.path], completed=file.info.size)
