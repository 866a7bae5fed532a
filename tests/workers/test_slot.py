"""A worker's slot: its OVMS_WORKER encoding and the pool's readiness files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ovms_cli.workers.slot import WorkerSlot, WorkerSlotError


def test_the_slot_survives_its_environment_encoding(tmp_path: Path) -> None:
    slot = WorkerSlot(1, 3, tmp_path)

    assert WorkerSlot.decode(slot.encode()) == slot
    assert slot.siblings() == [0, 2]


@pytest.mark.parametrize("value", ["", "1/2", "x/2/tmp", "2/2/tmp", "-1/2/tmp"])
def test_a_malformed_slot_is_refused(value: str) -> None:
    with pytest.raises(WorkerSlotError, match="OVMS_WORKER"):
        WorkerSlot.decode(value)


def test_the_pool_is_ready_only_when_every_live_worker_said_so(tmp_path: Path) -> None:
    first, second = WorkerSlot(0, 2, tmp_path), WorkerSlot(1, 2, tmp_path)
    first.mark_ready(True)
    assert not first.all_ready()  # the second has not said it

    second.mark_ready(True)
    assert first.all_ready()

    second.mark_ready(False)
    assert not first.all_ready()


def test_a_dead_workers_readiness_file_does_not_count(tmp_path: Path) -> None:
    slot = WorkerSlot(0, 2, tmp_path)
    slot.mark_ready(True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    slot.ready_file(1).write_text(dead.stdout.decode().strip())

    assert not slot.all_ready()

    slot.ready_file(1).write_text(str(os.getpid()))
    assert slot.all_ready()
