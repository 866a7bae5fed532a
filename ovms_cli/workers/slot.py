"""A worker's place in the pool: its index, the pool size and the pool's state directory.

The supervisor passes it in the ``OVMS_WORKER`` environment variable as ``index/count/directory``
(the worker re-runs the same command line). A worker is ready when its file
``worker-<index>.ready`` holds its pid; the supervisor removes the file of a worker that died.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENT = "OVMS_WORKER"


class WorkerSlotError(ValueError):
    """``OVMS_WORKER`` is not ``index/count/directory`` with 0 <= index < count."""


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    index: int  # 0 .. count - 1
    count: int
    directory: Path  # shared by the pool: readiness files and peer sockets

    def encode(self) -> str:
        return f"{self.index}/{self.count}/{self.directory}"

    @classmethod
    def from_environment(cls) -> WorkerSlot | None:
        """The slot the supervisor gave this process, or None when it is not a worker."""
        value = os.environ.get(ENVIRONMENT)
        return None if value is None else cls.decode(value)

    @classmethod
    def decode(cls, value: str) -> WorkerSlot:
        try:
            index, count, directory = value.split("/", 2)
            slot = cls(int(index), int(count), Path(directory))
        except ValueError as error:
            raise WorkerSlotError(f"{ENVIRONMENT}={value!r}: expected index/count/directory") from error
        if not 0 <= slot.index < slot.count:
            raise WorkerSlotError(f"{ENVIRONMENT}={value!r}: index out of range")
        return slot

    def ready_file(self, index: int | None = None) -> Path:
        return self.directory / f"worker-{self.index if index is None else index}.ready"

    def socket_path(self, index: int | None = None) -> Path:
        return self.directory / f"worker-{self.index if index is None else index}.sock"

    def siblings(self) -> list[int]:
        return [i for i in range(self.count) if i != self.index]

    def mark_ready(self, ready: bool) -> None:
        """Publish (or withdraw) this worker's readiness to the pool."""
        path = self.ready_file()
        if ready:
            temporary = path.with_suffix(".tmp")
            temporary.write_text(str(os.getpid()))
            temporary.replace(path)
        else:
            path.unlink(missing_ok=True)

    def all_ready(self) -> bool:
        """Every worker of the pool has published readiness and is alive."""
        return all(worker_ready(self.ready_file(i)) for i in range(self.count))


def worker_ready(path: Path) -> bool:
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's: not ours, but alive
        return True
    return True
